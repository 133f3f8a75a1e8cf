import CloakroomConfig
import Foundation
import NIOSSL

/// Builds the TLS server context of each `listen[i].tls`: the PEM chain and key, TLS 1.2 or
/// later, forward-secret AEAD cipher suites only, ALPN `h2` then `http/1.1`.
///
/// Every problem is a ``ServerStartError`` naming the key and the file, found at start, on
/// `cloakroom check` and on reload, never at the first handshake.
enum TLSContexts {
    /// TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's
    /// "intermediate" list). TLS 1.3 suites are BoringSSL's fixed, all-AEAD set.
    static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    static let applicationProtocols = ["h2", "http/1.1"]

    /// One context per listener, `nil` for plain ones, in `listen` order.
    static func make(for listeners: [Listener]) throws -> [NIOSSLContext?] {
        try listeners.enumerated().map { index, listener in
            try listener.tls.map { try context($0, path: "listen[\(index)].tls") }
        }
    }

    static func context(_ settings: TLSSettings, path: String) throws -> NIOSSLContext {
        let certificates = try certificates(in: settings.certificatePath, key: "\(path).certificate")
        let key = try privateKey(in: settings.privateKeyPath, key: "\(path).private_key")
        if let leaf = certificates.first,
            let problem = CertificateKeyDiagnosis.signingProblem(leaf, certificatePath: settings.certificatePath, path: path, purpose: .server)
        {
            throw ServerStartError.unsupported(problem)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = cipherSuites
        configuration.applicationProtocols = applicationProtocols
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerStartError.unsupported(
                CertificateKeyDiagnosis.problem(
                    certificatePath: settings.certificatePath, keyPath: settings.privateKeyPath, path: path, purpose: .server, refusal: error))
        }
    }

    /// Every problem ``context(_:path:)`` would throw for, for `cloakroom check`: an unreadable
    /// certificate and an unreadable key are two problems (the first used to hide the second);
    /// whether they match is asked only once both read.
    static func problems(_ settings: TLSSettings, path: String) -> [String] {
        var problems: [String] = []
        do { _ = try certificates(in: settings.certificatePath, key: "\(path).certificate") } catch { problems.append("\(error)") }
        do { _ = try privateKey(in: settings.privateKeyPath, key: "\(path).private_key") } catch { problems.append("\(error)") }
        guard problems.isEmpty else { return problems }
        do { _ = try context(settings, path: path) } catch { problems.append("\(error)") }
        return problems
    }

    /// The PEM certificates in `file`, at least one; `key` names the setting in the error.
    static func certificates(in file: String, key: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            throw ServerStartError.unsupported("\(key): file \"\(file)\" holds no readable PEM certificate")
        }
        guard !certificates.isEmpty else {
            throw ServerStartError.unsupported("\(key): file \"\(file)\" holds no PEM certificate")
        }
        return certificates
    }

    /// The PEM private key in `file`; `key` names the setting in the error.
    static func privateKey(in file: String, key: String) throws -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(file: file, format: .pem)
        } catch {
            // Say which (found by an audit: a damaged key was blamed on encryption).
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let why = text.contains("ENCRYPTED") ? "it is encrypted, and encrypted keys are not supported" : "damaged, or not a private key"
            throw ServerStartError.unsupported("\(key): file \"\(file)\" holds no readable PEM private key (\(why))")
        }
    }
}
