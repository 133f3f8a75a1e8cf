import Foundation
import NIOCore
import NIOSSL
import X509

/// Whether an HTTPS upstream's certificate is valid for the name Cloakroom verifies:
/// `tls.server_name`, else the target's host (RFC 6125 §6): a DNS name against the DNS names of
/// the subject alternative names, case-insensitively, a `*.` left-most label standing for
/// exactly one label; an IP literal against the IP addresses there. A certificate without any
/// DNS or IP alternative name is checked by its subject's common name (DNS names only), as
/// swift-nio-ssl did.
///
/// The chain is verified by swift-nio-ssl during the handshake and the name here, after it:
/// swift-nio-ssl's own name check also accepts any IP SAN that matches the address connected
/// to, so with `server_name: api.internal` a certificate for `127.0.0.1` alone would pass.
/// (swift-certificates' `ServerIdentityPolicy` makes the same check but is reachable only
/// through its asynchronous chain verifier; the certificate is parsed with swift-certificates.)
enum UpstreamServerIdentity {
    /// Why `leaf` is not valid for `name`, or `nil` when it is.
    static func problem(leaf: NIOSSLCertificate, name: String) -> String? {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: leaf.toDERBytes())
        } catch {
            return "the upstream's certificate could not be read (\(error))"
        }
        return matches(certificate, name: name) ? nil : "the upstream's certificate is not valid for \(name)"
    }

    /// Why a chain whose verification failed was refused, as far as its leaf tells: expired,
    /// not yet valid, self-signed, or issued by no CA the proxy trusts (or sent without its
    /// intermediates). Names the certificate by its subject, never anything secret.
    static func verificationProblem(leaf: NIOSSLCertificate, now: Date) -> String {
        guard let certificate = try? Certificate(derEncoded: leaf.toDERBytes()) else {
            return "the upstream's certificate could not be verified"
        }
        let subject = certificate.subject.description
        let format = Date.ISO8601FormatStyle()
        if certificate.notValidAfter < now {
            return "the upstream's certificate (\(subject)) expired at \(certificate.notValidAfter.formatted(format))"
        }
        if certificate.notValidBefore > now {
            return "the upstream's certificate (\(subject)) is not valid before \(certificate.notValidBefore.formatted(format))"
        }
        if let usages = try? certificate.extensions.extendedKeyUsage, !usages.contains(.serverAuth), !usages.contains(.any) {
            // Found by an audit: one for clients only read as issued by an untrusted CA.
            return "the upstream's certificate (\(subject)) is not for servers (its extended key usage lacks serverAuth)"
        }
        if certificate.issuer == certificate.subject {
            return "the upstream's certificate (\(subject)) is self-signed and not trusted (tls.ca, or the system's roots)"
        }
        return "the upstream's certificate (\(subject)) is not issued by a trusted CA (tls.ca, or the system's roots), or the upstream does not send its intermediate certificates"
    }

    static func matches(_ certificate: Certificate, name: String) -> Bool {
        let alternativeNames = Array((try? certificate.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames([]))
        if let address = addressBytes(name) {
            return alternativeNames.contains { alternative in
                if case .ipAddress(let bytes) = alternative { return Array(bytes.bytes) == address }
                return false
            }
        }
        let host = Array(name.lowercased().utf8.reversed().drop { $0 == UInt8(ascii: ".") }.reversed())
        var dnsNames: [String] = []
        var hasAddresses = false
        for alternative in alternativeNames {
            switch alternative {
            case .dnsName(let dnsName): dnsNames.append(dnsName)
            case .ipAddress: hasAddresses = true
            default: continue
            }
        }
        if dnsNames.isEmpty && !hasAddresses {
            dnsNames = certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.compactMap { String($0.value) }
        }
        return dnsNames.contains { matches(pattern: Array($0.lowercased().utf8), host: host) }
    }

    /// One DNS name of a certificate against the host: equal, or `*.rest` where the host is one
    /// label, not empty, followed by `.rest`.
    static func matches(pattern: [UInt8], host: [UInt8]) -> Bool {
        var pattern = pattern
        if pattern.last == UInt8(ascii: ".") { pattern.removeLast() }
        guard !pattern.isEmpty, !host.isEmpty else { return false }
        guard pattern.starts(with: Array("*.".utf8)) else { return pattern == host }
        let rest = pattern.dropFirst(1)  // ".example.com"
        // RFC 6125 §7.2: no wildcard over a public suffix-like single label (`*.com`).
        guard rest.dropFirst().contains(UInt8(ascii: ".")), let dot = host.firstIndex(of: UInt8(ascii: ".")), dot > 0 else { return false }
        return Array(host[dot...]) == Array(rest)
    }

    /// The bytes of an IPv4 or IPv6 literal (`[::1]` too), or `nil` for a DNS name.
    static func addressBytes(_ name: String) -> [UInt8]? {
        let literal = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
