import Foundation
import Testing

/// What `cloakroom sessions|keys` read from the configuration: `admin.listen`, and
/// `admin.token` only when no token came from `--token` or `$CLOAKROOM_ADMIN_TOKEN` (SPEC
/// "Command line"). A variable that is unset where only `serve` looks (a secret, or the token
/// the command was given anyway) does not stop it; a problem in what it does read still does.
@Suite(.serialized) struct AdminCommandConfigTests {
    /// A config for the CLI only, naming `harness`'s admin listener, with `admin` as given.
    static func cliConfig(_ harness: BinaryHarness, admin: String) throws -> String {
        try CommandLineTests.writeConfig("""
            listen: [{ address: "127.0.0.1:0" }]
            session:
              secrets: ["${CLOAKROOM_TEST_UNSET_SECRET}"]
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            \(admin)
            """)
    }

    static let unset = ["CLOAKROOM_ADMIN_TOKEN", "CLOAKROOM_CONFIG", "CLOAKROOM_TEST_UNSET_SECRET", "CLOAKROOM_TEST_UNSET_LISTEN"]

    @Test func aTokenGivenElsewhereNeedsOnlyTheAdminListener() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        _ = try await proxy.login("alice")

        // The binary's own config: admin.token is "${CLOAKROOM_ADMIN_TOKEN}", unset here.
        let own = try await CommandLineTests.run(
            ["sessions", "list", "--config", proxy.configPath, "--token", BinaryHarness.token], unsetting: Self.unset)
        #expect(own.status == 0, "\(own.errors)")
        #expect(own.output.contains("alice"), "\(own.output)")

        let config = try Self.cliConfig(proxy, admin: """
            admin:
              listen: "127.0.0.1:\(proxy.adminPort)"
              token: "${CLOAKROOM_ADMIN_TOKEN}"
            """)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let flag = try await CommandLineTests.run(
            ["sessions", "list", "--json", "--config", config, "--token", BinaryHarness.token], unsetting: Self.unset)
        #expect(flag.status == 0, "\(flag.errors)")
        #expect(flag.output.contains("\"alice\""), "\(flag.output)")
        let variable = try await CommandLineTests.run(
            ["keys", "list", "--config", config], environment: ["CLOAKROOM_ADMIN_TOKEN": BinaryHarness.token],
            unsetting: Self.unset.filter { $0 != "CLOAKROOM_ADMIN_TOKEN" })
        #expect(variable.status == 0, "\(variable.errors)")

        // Without a token anywhere, the config's admin.token is read, and its problem reported.
        let none = try await CommandLineTests.run(["sessions", "list", "--config", config], unsetting: Self.unset)
        #expect(none.status == 1)
        #expect(none.errors.contains("admin.token: environment variable CLOAKROOM_ADMIN_TOKEN is not set"), "\(none.errors)")
        #expect(!none.errors.contains("session.secrets"), "a key the command does not read: \(none.errors)")

        // serve and check still refuse the file.
        let check = try await CommandLineTests.run(["check", "--config", config], unsetting: Self.unset)
        #expect(check.status == 1)
        #expect(check.output.contains("session.secrets[0]: environment variable CLOAKROOM_TEST_UNSET_SECRET is not set"), "\(check.output)")
        #expect(check.output.contains("admin.token: environment variable CLOAKROOM_ADMIN_TOKEN is not set"), "\(check.output)")
        let serve = try await CommandLineTests.run(["serve", "--config", config], unsetting: Self.unset)
        #expect(serve.status == 1)
        #expect(serve.errors.contains("session.secrets[0]: environment variable CLOAKROOM_TEST_UNSET_SECRET is not set"), "\(serve.errors)")
    }

    /// `--admin` and `--token` together need no configuration at all; what the command does read
    /// must still be right.
    @Test func whatTheCommandReadsMustStillBeRight() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let nowhere = "/nonexistent/cloakroom-\(UUID().uuidString).yaml"
        let both = try await CommandLineTests.run(
            ["sessions", "list", "--config", nowhere, "--admin", proxy.admin, "--token", BinaryHarness.token], unsetting: Self.unset)
        #expect(both.status == 0, "\(both.errors)")

        let unsetListen = try Self.cliConfig(proxy, admin: """
            admin:
              listen: "${CLOAKROOM_TEST_UNSET_LISTEN}"
              token: "${CLOAKROOM_ADMIN_TOKEN}"
            """)
        defer { try? FileManager.default.removeItem(atPath: unsetListen) }
        let listen = try await CommandLineTests.run(
            ["sessions", "list", "--config", unsetListen, "--token", BinaryHarness.token], unsetting: Self.unset)
        #expect(listen.status == 1)
        #expect(listen.errors.contains("admin.listen: environment variable CLOAKROOM_TEST_UNSET_LISTEN is not set"), "\(listen.errors)")
        #expect(!listen.errors.contains("admin.token") && !listen.errors.contains("session.secrets"), "\(listen.errors)")
        // With --admin, admin.listen is not read either.
        let given = try await CommandLineTests.run(
            ["sessions", "list", "--config", unsetListen, "--admin", proxy.admin], environment: ["CLOAKROOM_ADMIN_TOKEN": BinaryHarness.token],
            unsetting: Self.unset.filter { $0 != "CLOAKROOM_ADMIN_TOKEN" })
        #expect(given.status == 0, "\(given.errors)")

        let noAdmin = try Self.cliConfig(proxy, admin: "")
        defer { try? FileManager.default.removeItem(atPath: noAdmin) }
        let missing = try await CommandLineTests.run(
            ["sessions", "list", "--config", noAdmin, "--token", BinaryHarness.token], unsetting: Self.unset)
        #expect(missing.status == 1)
        #expect(missing.errors.contains("no admin section"), "\(missing.errors)")
        let unreadable = try await CommandLineTests.run(["sessions", "list", "--config", nowhere, "--token", "t"], unsetting: Self.unset)
        #expect(unreadable.status == 1)
        #expect(unreadable.errors.contains("does not exist"), "\(unreadable.errors)")
    }
}
