import Foundation
import Testing

@testable import CloakroomConfig

/// Configurations `check` passed but `serve` refused or tripped on, and messages a value could
/// break (found by a black-box audit against SPEC).
@Suite struct AuditFindingsConfigTests {
    private let token = String(repeating: "k", count: 32)

    /// Digits and dots only is an IPv4 address, and must be a valid one; a bracketed host must
    /// be a valid IPv6 address.
    @Test(arguments: ["256.0.0.1:8080", "1.2.3:8080", "01.2.3.4:8080", "[:::1]:8080", "[1:2]:8080"])
    func anInvalidIPAddressIsRefused(address: String) {
        expectSingleProblem(
            "listen: [{ address: \"\(address)\" }]\nroutes: [{ path: /, upstream: api }]\nupstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n",
            at: "listen[0].address", "is not an IPv")
    }

    @Test func validAddressesAndNamesStillLoad() throws {
        let configuration = try #require(load(
            "listen: [{ address: \"0.0.0.0:8080\" }, { address: \"[::1]:8081\" }, { address: \"localhost:8082\" }]\n"
                + "routes: [{ path: /, upstream: api }]\nupstreams: { api: { targets: [\"http://10.1.2.3:9000\"] } }\n"))
        #expect(configuration.listeners.map(\.address.description) == ["0.0.0.0:8080", "[::1]:8081", "localhost:8082"])
    }

    /// A wildcard listener covers the admin address on the same port: serve could not bind both.
    @Test(arguments: [("0.0.0.0:9901", "127.0.0.1:9901"), ("127.0.0.1:9901", "0.0.0.0:9901"), ("[::]:9901", "127.0.0.1:9901")])
    func aListenerOverlappingTheAdminListenerIsRefused(listen: String, admin: String) {
        expectSingleProblem(
            "listen: [{ address: \"\(listen)\" }]\nroutes: [{ path: /, upstream: api }]\n"
                + "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\nadmin: { listen: \"\(admin)\", token: \"\(token)\" }\n",
            at: "admin.listen", "must differ from listen[0]")
    }

    @Test func theDefaultAdminListenClashesWithAWildcardListenerOnItsPort() {
        expectSingleProblem(
            "listen: [{ address: \"0.0.0.0:9901\" }]\nroutes: [{ path: /, upstream: api }]\n"
                + "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\nadmin: { token: \"\(token)\" }\n",
            at: "admin.listen", "must differ from listen[0]")
    }

    @Test func overlappingListenersAreRefusedAndDistinctOnesLoad() throws {
        expectSingleProblem(
            "listen: [{ address: \"0.0.0.0:8080\" }, { address: \"127.0.0.1:8080\" }]\nroutes: [{ path: /, upstream: api }]\n"
                + "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n",
            at: "listen[1].address", "same address as listen[0]")
        #expect(load(
            "listen: [{ address: \"127.0.0.1:8080\" }, { address: \"127.0.0.2:8080\" }, { address: \"127.0.0.1:8081\" }]\n"
                + "routes: [{ path: /, upstream: api }]\nupstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n"
                + "admin: { listen: \"127.0.0.1:9901\", token: \"\(token)\" }\n") != nil)
    }

    /// serve refuses a store file that is not SQLite; check said the file was valid.
    @Test func aStoreFileThatIsNotSQLiteIsRefused() throws {
        let secrets = "  secrets: [\"0123456789abcdef0123456789abcdef\"]\n"
        let text = try temporaryFile(named: "notdb.db", contents: "this is not a database\n")
        expectSingleProblem(
            minimal(adding: "session:\n\(secrets)  store: { file: { path: \"\(text)\" } }\n"),
            at: "session.store.file.path", "is not an SQLite database")
        let empty = try temporaryFile(named: "empty.db", contents: "")
        #expect(load(minimal(adding: "session:\n\(secrets)  store: { file: { path: \"\(empty)\" } }\n")) != nil)
        let sqlite = try temporaryFile(named: "real.db", contents: "SQLite format 3\0" + String(repeating: "\u{1}", count: 84))
        #expect(load(minimal(adding: "session:\n\(secrets)  store: { file: { path: \"\(sqlite)\" } }\n")) != nil)
    }

    /// The echo builtin connects to nothing: settings for a connection would be silently unused.
    @Test func echoSettingsThatCannotApplyAreErrors() throws {
        let found = problems(in: """
            listen: [{ address: "127.0.0.1:8080" }]
            routes: [{ path: /, upstream: echo }]
            identity: { assertion: {} }
            upstreams:
              echo:
                builtin: echo
                connect_timeout: 2s
                response_timeout: 5s
                idle_timeout: 1m
                max_connections: 3
                host_header: target
                tls: { insecure_skip_verify: true }
                audience: echo-service

            """)
        #expect(
            found.map(\.path) == [
                "upstreams.echo.connect_timeout", "upstreams.echo.response_timeout", "upstreams.echo.idle_timeout",
                "upstreams.echo.max_connections", "upstreams.echo.host_header", "upstreams.echo.tls",
            ], "\(found)")
        #expect(found.allSatisfy { $0.message.contains("echo builtin") }, "\(found)")
        // audience still applies (the echo shows the assertion it would get), and tls: null is no setting.
        #expect(load("listen: [{ address: \"127.0.0.1:8080\" }]\nroutes: [{ path: /, upstream: echo }]\nidentity: { assertion: {} }\n"
            + "upstreams: { echo: { builtin: echo, audience: svc, tls: null } }\n") != nil)
    }

    /// One problem per line: a value with CR/LF (or any control character) is escaped when
    /// echoed, so it cannot break the line or forge another.
    @Test func echoedValuesHaveTheirControlCharactersEscaped() throws {
        let found = problems(in: minimal(adding: "logout: { path: \"evil\\r\\nX-Injected: 1\\u001b[31m\" }\n"))
        #expect(found.count == 1, "\(found)")
        let line = try #require(found.first).description
        #expect(!line.contains("\r") && !line.contains("\n") && !line.contains("\u{1b}"), "\(line)")
        #expect(line.contains(#"evil\r\nX-Injected: 1\u{1b}[31m"#), "\(line)")
        #expect(HTTPSyntax.quoted("a\tb\u{7f}\u{85}\u{2028}\"\\") == #""a\tb\u{7f}\u{85}\u{2028}\"\\""#)
        let keyed = problems(in: minimal(adding: "identity: { headers: { \"X-A\\nB\": sub } }\n"))
        #expect(keyed.allSatisfy { !$0.description.contains("\n") }, "\(keyed)")
    }
}
