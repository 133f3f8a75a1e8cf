import Foundation
import Testing

/// `check` prints every problem, including those only the server's own checks find, and the
/// CLI's environment variables count as unset when empty.
@Suite(.serialized) struct CheckAuditTests {
    /// Every problem of the users file with its key path (a typo, a number for a string, each
    /// user's), and both unreadable TLS files, not just the certificate.
    @Test func checkReportsEveryUsersFileProblemAndBothTLSFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let garbage = directory + "/garbage.pem"
        try "not PEM at all\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let users = directory + "/users.yaml"
        try """
            users:
              alice:
                pasword: "scrypt$N=16,r=1,p=1$AAAA$BBBB"
                email: 5
              bob:
                roles: admin

            """.write(toFile: users, atomically: true, encoding: .utf8)
        let path = try CommandLineTests.writeConfig("""
            listen:
              - address: "127.0.0.1:0"
                tls: { certificate: "\(garbage)", private_key: "\(garbage)" }
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
            login: { users_file: "\(users)" }
            routes: [{ path: /, upstream: echo }]
            upstreams:
              echo: { builtin: echo }
              api: { targets: ["https://127.0.0.1:9443"], tls: { certificate: "\(garbage)", private_key: "\(garbage)" } }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await CommandLineTests.run(["check", "--config", path])
        #expect(run.status == 1)
        let lines = run.output.split(separator: "\n").map(String.init)
        for expected in [
            "listen[0].tls.certificate:", "listen[0].tls.private_key:", "upstreams.api.tls.certificate:", "upstreams.api.tls.private_key:",
            "login.users_file: users file \(users), line 3: users.alice.pasword: unknown key (did you mean \"password\"?)",
            "login.users_file: users file \(users), line 4: users.alice.email: expected a string, got a number",
            "users.alice.password: required key is missing", "users.bob.roles: expected a list of strings",
            "users.bob.password: required key is missing",
        ] {
            #expect(lines.contains { $0.hasPrefix(expected) || $0.contains(expected) }, "\(expected)\n\(run.output)")
        }
        #expect(lines.count == 9, "\(run.output)")
    }

    /// A wildcard inside an origin (`https://*.a.com`) never matches: `check` names each such
    /// entry, in `cors` and in `trusted_origins` (found by a black-box audit: it passed).
    @Test func checkRefusesAWildcardInsideAnOrigin() async throws {
        let path = try CommandLineTests.writeConfig("""
            listen: [{ address: "127.0.0.1:0" }]
            session:
              trusted_origins: ["https://app.a.com", "https://*.b.com"]
            routes:
              - { path: /open/, upstream: echo, cors: { origins: ["*"] } }
              - { path: /, upstream: echo, cors: { origins: ["https://app.a.com", "https://*.a.com"] } }
            upstreams:
              echo: { builtin: echo }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await CommandLineTests.run(["check", "--config", path])
        #expect(run.status == 1, "\(run.output)\(run.errors)")
        let lines = run.output.split(separator: "\n").map(String.init)
        for key in ["routes[1].cors.origins[1]:", "session.trusted_origins[1]:"] {
            let line = lines.first { $0.contains(key) }
            #expect(line?.contains("wildcards inside an origin are not supported") == true, "\(key)\n\(run.output)")
            #expect(line?.contains("list each origin") == true, "\(key)\n\(run.output)")
        }
        #expect(lines.count == 2, "nothing else: \(run.output)")
    }

    /// `CLOAKROOM_CONFIG=` falls back to ./proxy.yaml (it said `configuration file "" does not
    /// exist`); `CLOAKROOM_ADMIN_TOKEN=` falls back to admin.token (it sent an empty token).
    @Test func emptyEnvironmentVariablesCountAsUnset() async throws {
        let check = try await CommandLineTests.run(["check"], environment: ["CLOAKROOM_CONFIG": ""])
        #expect(!(check.output + check.errors).contains("\"\""), "\(check.output)\(check.errors)")
        #expect((check.output + check.errors).contains("proxy.yaml"), "\(check.output)\(check.errors)")

        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let config = try CommandLineTests.writeConfig("""
            listen: [{ address: "127.0.0.1:0" }]
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            admin:
              listen: "127.0.0.1:\(proxy.adminPort)"
              token: "\(BinaryHarness.token)"
            """)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let list = try await CommandLineTests.run(
            ["sessions", "list", "--json"], environment: ["CLOAKROOM_ADMIN_TOKEN": "", "CLOAKROOM_CONFIG": config])
        #expect(list.status == 0, "\(list.output)\(list.errors)")
        #expect(list.output.contains("\"sessions\""), "\(list.output)")
    }
}
