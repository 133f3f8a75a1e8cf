import Foundation

/// A small certificate authority made at test time with the `openssl` command line tool, for
/// HTTPS upstreams: a CA, server certificates it signs (one for `localhost` and 127.0.0.1, one
/// for another name), a client certificate for mutual TLS, and a second, unrelated CA with a
/// server certificate of its own.
struct TestPKI {
    let directory: URL

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    /// The CA that signs `server`, `wrong` and `client`.
    var ca: String { path("ca.crt") }
    /// `DNS:localhost, IP:127.0.0.1`, signed by ``ca``.
    var serverCertificate: String { path("server.crt") }
    var serverKey: String { path("server.key") }
    /// `DNS:wrong.example` only, signed by ``ca``.
    var wrongNameCertificate: String { path("wrong.crt") }
    var wrongNameKey: String { path("wrong.key") }
    /// A client certificate (`CN=cloakroom`, clientAuth) signed by ``ca``.
    var clientCertificate: String { path("client.crt") }
    var clientKey: String { path("client.key") }
    /// A CA nothing here trusts, and a `localhost` certificate it signed.
    var otherCA: String { path("other-ca.crt") }
    var otherServerCertificate: String { path("other-server.crt") }
    var otherServerKey: String { path("other-server.key") }
    /// `localhost`, signed by ``ca``, expired since yesterday.
    var expiredCertificate: String { path("expired.crt") }
    var expiredKey: String { path("expired.key") }
    /// `localhost`, signed by itself.
    var selfSignedCertificate: String { path("self.crt") }
    var selfSignedKey: String { path("self.key") }
    /// A key that belongs to no certificate.
    var strayKey: String { path("stray.key") }

    /// Runs `openssl` off the cooperative pool (see ``TestCertificates/make()``).
    static func make() async throws -> TestPKI {
        try await offPool { try makeNow() }
    }

    private static func makeNow() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        try pki.authority("ca", subject: "/CN=Cloakroom Test CA")
        try pki.authority("other-ca", subject: "/CN=Somebody Else's CA")
        try pki.authority("rsa-ca", subject: "/CN=An RSA CA", key: ["rsa", "-pkeyopt", "rsa_keygen_bits:2048"])
        try pki.leaf("server", by: "ca", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
        try pki.leaf("wrong", by: "ca", subject: "/CN=wrong.example", extensions: "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth")
        try pki.leaf("client", by: "ca", subject: "/CN=cloakroom", extensions: "extendedKeyUsage=clientAuth")
        // A server's names, for clients only: no server may present it.
        try pki.leaf("clientonly", by: "ca", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=clientAuth")
        try pki.leaf(
            "other-server", by: "other-ca", subject: "/CN=localhost",
            extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
        try pki.leaf(
            "expired", by: "ca", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth",
            days: -1)
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", pki.selfSignedKey,
            "-out", pki.selfSignedCertificate, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", pki.strayKey])
        return pki
    }

    private func authority(_ name: String, subject: String, key: [String] = ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]) throws {
        try Self.openssl(
            ["req", "-x509", "-newkey"] + key + [
            "-nodes", "-keyout", path("\(name).key"),
            "-out", path("\(name).crt"), "-days", "2", "-subj", subject,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// `days` -1: the certificate expired a day before it was made.
    private func leaf(_ name: String, by issuer: String, subject: String, extensions: String, days: Int = 2) throws {
        let extensionsFile = path("\(name).ext")
        try "basicConstraints=critical,CA:FALSE\n\(extensions)\n".write(toFile: extensionsFile, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path("\(name).key"),
            "-out", path("\(name).csr"), "-subj", subject,
        ])
        try Self.openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(issuer).crt"), "-CAkey", path("\(issuer).key"),
            "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", String(days), "-out", path("\(name).crt"),
            "-extfile", extensionsFile,
        ])
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestCertificates.CertificateError.opensslFailed(arguments.joined(separator: " ")) }
    }
}
