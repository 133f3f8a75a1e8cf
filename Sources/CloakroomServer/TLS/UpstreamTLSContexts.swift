import CloakroomConfig
import NIOSSL

/// Builds the TLS client context of each upstream with `https://` targets, from
/// `upstreams.NAME.tls`: TLS 1.2 or later, ALPN `http/1.1` (upstreams speak HTTP/1.1), the chain
/// verified against `ca` (else the system roots) unless `insecure_skip_verify`, and the client
/// certificate and key for mutual TLS.
///
/// The files are read here, at start, on `cloakroom check` and on every reload (a renewed
/// certificate is picked up by a reload), and every problem is a ``ServerStartError`` naming the
/// key and the file, never the first handshake's. Messages never carry key material.
enum UpstreamTLSContexts {
    static let applicationProtocols = ["http/1.1"]

    /// One context per upstream that has an `https` target, by upstream name.
    static func make(for upstreams: [String: Upstream]) throws -> [String: NIOSSLContext] {
        var contexts: [String: NIOSSLContext] = [:]
        for (name, upstream) in upstreams.sorted(by: { $0.key < $1.key }) where upstream.hasTLSTargets {
            contexts[name] = try context(upstream.tls, path: "upstreams.\(name).tls")
        }
        return contexts
    }

    /// Every problem ``make(for:)`` would throw for, in name order: each file on its own (an
    /// unreadable CA and a key that does not match are two problems), for `cloakroom check`.
    static func problems(in upstreams: [String: Upstream]) -> [String] {
        upstreams.sorted { $0.key < $1.key }.flatMap { name, upstream -> [String] in
            guard upstream.hasTLSTargets else { return [] }
            let path = "upstreams.\(name).tls"
            var problems: [String] = []
            var caless = upstream.tls
            if let ca = caless.caPath {
                caless.caPath = nil
                do { _ = try certificates(in: ca, key: "\(path).ca") } catch { problems.append("\(error)") }
            }
            // The client certificate and key each on its own; whether they match only once both read.
            var unreadable = false
            if let certificatePath = caless.certificatePath, let keyPath = caless.privateKeyPath {
                for check in [
                    { _ = try certificates(in: certificatePath, key: "\(path).certificate") },
                    { _ = try TLSContexts.privateKey(in: keyPath, key: "\(path).private_key") },
                ] as [() throws -> Void] {
                    do { try check() } catch {
                        problems.append("\(error)")
                        unreadable = true
                    }
                }
            }
            if !unreadable {
                do { _ = try context(caless, path: path) } catch { problems.append("\(error)") }
            }
            return problems
        }
    }

    /// The upstreams whose certificates are not verified, for the warning at start and reload.
    static func unverified(in upstreams: [String: Upstream]) -> [String] {
        upstreams.filter { $0.value.hasTLSTargets && $0.value.tls.insecureSkipVerify }.keys.sorted()
    }

    static func context(_ settings: UpstreamTLS, path: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = applicationProtocols
        // The chain here; the name after the handshake (``UpstreamServerIdentity``), which
        // unlike swift-nio-ssl's check does not accept an IP SAN for a DNS name.
        configuration.certificateVerification = settings.insecureSkipVerify ? .none : .noHostnameVerification
        if let ca = settings.caPath {
            configuration.trustRoots = .certificates(try certificates(in: ca, key: "\(path).ca"))
        } else {
            configuration.trustRoots = .default
        }
        if let certificatePath = settings.certificatePath, let keyPath = settings.privateKeyPath {
            let chain = try certificates(in: certificatePath, key: "\(path).certificate")
            let key = try TLSContexts.privateKey(in: keyPath, key: "\(path).private_key")
            if let leaf = chain.first, let problem = CertificateKeyDiagnosis.signingProblem(leaf, certificatePath: certificatePath, path: path, purpose: .client) {
                throw ServerStartError.unsupported(problem)
            }
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            if let certificatePath = settings.certificatePath, let keyPath = settings.privateKeyPath {
                throw ServerStartError.unsupported(
                    CertificateKeyDiagnosis.problem(certificatePath: certificatePath, keyPath: keyPath, path: path, purpose: .client, refusal: error))
            }
            throw ServerStartError.unsupported("\(path): the TLS client settings were refused (\(error))")
        }
    }

    private static func certificates(in file: String, key: String) throws -> [NIOSSLCertificate] {
        try TLSContexts.certificates(in: file, key: key)
    }
}

extension Upstream {
    /// Whether any target is `https://`.
    var hasTLSTargets: Bool {
        guard case .targets(let targets) = kind else { return false }
        return targets.contains(where: \.isTLS)
    }
}
