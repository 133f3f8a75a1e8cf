import CloakroomConfig
import Foundation
import NIOSSL
import X509

/// Certificates the configuration names that are out of their validity period: a listener's
/// certificate, an upstream's client certificate or CA. They still load (nginx starts with them
/// too), but clients, upstreams and the verification of upstreams will refuse them, so
/// `cloakroom check`, start-up and every reload warn, with the key path (found by an audit:
/// nothing said so). Files that cannot be read are ``ProxyServer/problems(in:)``'s to report.
enum CertificateValidity {
    static func warnings(in configuration: Configuration, now: Date) -> [String] {
        var warnings: [String] = []
        for (index, listener) in configuration.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            warnings += check(tls.certificatePath, key: "listen[\(index)].tls.certificate", refusedBy: "clients", now: now)
        }
        for (name, upstream) in configuration.upstreams.sorted(by: { $0.key < $1.key }) where upstream.hasTLSTargets {
            let path = "upstreams.\(name).tls"
            if let ca = upstream.tls.caPath {
                warnings += check(ca, key: "\(path).ca", refusedBy: "the verification of the upstream", now: now, every: true)
            }
            if let certificate = upstream.tls.certificatePath {
                warnings += check(certificate, key: "\(path).certificate", refusedBy: "the upstream", now: now)
            }
        }
        return warnings
    }

    /// The leaf (or, with `every`, each certificate) of `file` out of its validity period.
    private static func check(_ file: String, key: String, refusedBy who: String, now: Date, every: Bool = false) -> [String] {
        guard let certificates = try? NIOSSLCertificate.fromPEMFile(file) else { return [] }
        let format = Date.ISO8601FormatStyle()
        return (every ? certificates : Array(certificates.prefix(1))).compactMap { pem in
            guard let certificate = try? Certificate(derEncoded: pem.toDERBytes()) else { return nil }
            let subject = certificate.subject.description
            if certificate.notValidAfter < now {
                return "\(key): the certificate (\(subject)) in \"\(file)\" expired at \(certificate.notValidAfter.formatted(format)); \(who) will refuse it"
            }
            if certificate.notValidBefore > now {
                return "\(key): the certificate (\(subject)) in \"\(file)\" is not valid before \(certificate.notValidBefore.formatted(format)); \(who) will refuse it until then"
            }
            return nil
        }
    }
}
