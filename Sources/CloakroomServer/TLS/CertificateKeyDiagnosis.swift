import Foundation
import NIOSSL
import X509

/// Why BoringSSL refused a certificate with its private key, in the words `cloakroom check`,
/// start-up and reload report. BoringSSL's own error names neither file nor cause a user would
/// recognise, so the two usual causes are told apart here, with swift-certificates:
/// - the key is not the certificate's (its public key differs);
/// - the certificate may not sign: its key usage lacks `digitalSignature`, as a CA
///   certificate's (`keyCertSign, cRLSign`) does, and TLS signs the handshake with it.
///
/// Nothing of the key is ever put in a message.
enum CertificateKeyDiagnosis {
    /// What a certificate is presented as: a listener's (to clients) or an upstream client
    /// certificate (to upstreams).
    enum Purpose {
        case server, client
    }

    /// The problem, with the key path `path` of the `tls` block (`listen[0].tls`,
    /// `upstreams.api.tls`).
    static func problem(certificatePath: String, keyPath: String, path: String, purpose: Purpose, refusal: any Error) -> String {
        let mismatch = "\(path).private_key: the key in \"\(keyPath)\" does not match the certificate in \"\(certificatePath)\""
        guard let leaf = try? NIOSSLCertificate.fromPEMFile(certificatePath).first,
            let certificate = try? Certificate(derEncoded: leaf.toDERBytes()),
            let keyText = try? String(contentsOfFile: keyPath, encoding: .utf8),
            let key = try? Certificate.PrivateKey(pemEncoded: keyText)
        else { return mismatch }
        guard certificate.publicKey == key.publicKey else { return mismatch }
        if let problem = signingProblem(certificate, certificatePath: certificatePath, path: path, purpose: purpose) { return problem }
        return "\(path).certificate: the certificate in \"\(certificatePath)\" and its key were refused (\(refusal))"
    }

    /// A leaf whose key usage lacks `digitalSignature`, checked before BoringSSL is asked: it
    /// refuses such an EC certificate with its key, but takes an RSA one (whose key could
    /// encipher, in a key exchange no allowed cipher suite uses), and every client then refuses
    /// the handshake (found by an audit: `check` passed an RSA CA certificate).
    ///
    /// And a leaf whose extended key usage names neither the purpose it serves (`serverAuth`
    /// for a listener, `clientAuth` for an upstream client certificate) nor any purpose: every
    /// peer refuses it as unsuitable (found by an audit: a client-only certificate passed
    /// `check` and every handshake on its listener failed).
    static func signingProblem(_ leaf: NIOSSLCertificate, certificatePath: String, path: String, purpose: Purpose) -> String? {
        guard let certificate = try? Certificate(derEncoded: leaf.toDERBytes()) else { return nil }
        return signingProblem(certificate, certificatePath: certificatePath, path: path, purpose: purpose)
    }

    private static func signingProblem(_ certificate: Certificate, certificatePath: String, path: String, purpose: Purpose) -> String? {
        if let usage = try? certificate.extensions.keyUsage, !usage.digitalSignature {
            return "\(path).certificate: the certificate in \"\(certificatePath)\" may not sign (its key usage lacks digitalSignature), "
                + "which TLS needs; a CA certificate cannot serve as one"
        }
        let (needed, role, peers): (ExtendedKeyUsage.Usage, String, String) =
            purpose == .server ? (.serverAuth, "servers", "clients") : (.clientAuth, "clients", "upstreams")
        if let usages = try? certificate.extensions.extendedKeyUsage, !usages.contains(needed), !usages.contains(.any) {
            return "\(path).certificate: the certificate in \"\(certificatePath)\" is not for \(role) (its extended key usage lacks "
                + "\(purpose == .server ? "serverAuth" : "clientAuth")): \(peers) refuse it"
        }
        return nil
    }
}
