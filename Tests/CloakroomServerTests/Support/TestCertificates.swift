import Foundation

/// A self-signed certificate for `localhost` and 127.0.0.1, made at test time with the
/// `openssl` command line tool (Debian's `openssl`, installed by `.ci/run`).
struct TestCertificates {
    let directory: URL
    var certificate: String { directory.appendingPathComponent("server.crt").path }
    var privateKey: String { directory.appendingPathComponent("server.key").path }
    /// A key that belongs to no certificate here, for mismatch tests.
    var otherKey: String { directory.appendingPathComponent("other.key").path }

    /// Runs `openssl` off the cooperative pool: blocking one of its two threads here delayed
    /// every other test's continuations (and the timings some of them check).
    static func make() async throws -> TestCertificates {
        try await offPool { try makeNow() }
    }

    private static func makeNow() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", certificates.privateKey, "-out", certificates.certificate, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", certificates.otherKey])
        return certificates
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
        guard process.terminationStatus == 0 else { throw CertificateError.opensslFailed(arguments[0]) }
    }

    enum CertificateError: Error { case opensslFailed(String) }
}
