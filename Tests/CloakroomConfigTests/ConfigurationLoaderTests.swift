import Foundation
import Testing

@testable import CloakroomConfig

@Suite("ConfigurationLoader")
struct ConfigurationLoaderTests {
    @Test func minimalFileGetsEveryDefault() throws {
        let configuration = try #require(load(minimalYAML))
        let expected = Configuration(
            listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 8080))],
            session: SessionSettings(),
            routes: [Route(path: "/", upstream: "api", auth: .required)],
            upstreams: ["api": Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: 9000)]))]
        )
        #expect(configuration == expected)
        // Spelled out, so a changed default in Configuration.swift is a visible test change.
        #expect(configuration.client.headerTimeout == .seconds(10))
        #expect(configuration.client.idleTimeout == .seconds(75))
        #expect(configuration.client.maxHeaderBytes == 32 * 1024)
        #expect(configuration.client.maxBodyBytes == 10 * 1024 * 1024)
        #expect(configuration.session.cookie.name == "cloakroom_session")
        #expect(configuration.session.cookie.secure == .auto)
        #expect(configuration.session.cookie.sameSite == .lax)
        #expect(configuration.session.cookie.domain == nil)
        #expect(configuration.session.cookie.path == "/")
        #expect(configuration.session.idleTimeout == .seconds(1800))
        #expect(configuration.session.absoluteTimeout == .seconds(12 * 3600))
        #expect(configuration.session.touchInterval == .seconds(60))
        #expect(configuration.session.secrets.isEmpty)
        #expect(configuration.session.store == .memory(MemoryStoreSettings(maxSessions: 1_000_000)))
        #expect(configuration.identity.headers.map(\.header) == ["X-User-Id", "X-User-Email", "X-User-Roles"])
        #expect(configuration.identity.headers.map(\.attribute) == ["sub", "email", "roles"])
        #expect(configuration.identity.strip == ["X-User-*"])
        #expect(configuration.login.path == "/login")
        #expect(configuration.login.usersFile == nil)
        #expect(configuration.login.page == nil)
        #expect(configuration.logout.path == "/logout")
        #expect(configuration.logout.redirect == "/")
        #expect(configuration.admin == nil)
        let upstream = try #require(configuration.upstreams["api"])
        #expect(upstream.connectTimeout == .seconds(2))
        #expect(upstream.responseTimeout == .seconds(30))
        #expect(upstream.idleTimeout == .seconds(60))
        #expect(upstream.maxConnections == 256)
    }

    @Test func everyKeyLandsInItsField() throws {
        let certificate = try temporaryFile(named: "roundtrip.crt")
        let privateKey = try temporaryFile(named: "roundtrip.key")
        let secretA = String(repeating: "a", count: 40)
        let adminToken = String(repeating: "T", count: 32)
        let yaml = """
            listen:
              - address: "127.0.0.1:8080"
              - address: "[::1]:0"
                tls:
                  certificate: "\(certificate)"
                  private_key: "\(privateKey)"
            client:
              header_timeout: 5s
              idle_timeout: 2m
              max_header_bytes: 16KiB
              max_body_bytes: 1MB
            session:
              cookie:
                name: __Secure-sid
                secure: true
                same_site: strict
                domain: example.com
                path: /auth
              idle_timeout: 1h
              absolute_timeout: 7d
              touch_interval: 30s
              secrets:
                - "${SECRET_A}"
                - "0123456789abcdef0123456789abcdef-old"
              store:
                redis:
                  url: "rediss://cache.internal:6380/2"
                  key_prefix: "cr:"
            identity:
              headers:
                X-Auth-User: sub
                X-Auth-Groups: groups
              strip: ["X-Auth-*", "X-Debug"]
            login:
              path: /auth/login
              users_file: users.json
              page: https://sso.example.com/start
            logout:
              path: /auth/logout
              redirect: /bye
            routes:
              - path: /health
                upstream: echo
                auth: none
              - path: /api/
                upstream: api
                auth: optional
              - path: /
                upstream: api
            upstreams:
              api:
                targets: ["http://10.0.0.1:9000", "http://backend.internal", "http://[::1]:9001/"]
                connect_timeout: 500ms
                response_timeout: 1m
                idle_timeout: 90s
                max_connections: 16
              echo:
                builtin: echo
            admin:
              listen: "127.0.0.1:9901"
              token: "${ADMIN_TOKEN}"

            """
        let files = FakeFileSystem([certificate: FakeFileSystem.file, privateKey: FakeFileSystem.file, "users.json": FakeFileSystem.file])
        let configuration = try #require(load(yaml, environment: ["SECRET_A": secretA, "ADMIN_TOKEN": adminToken], files: files))

        var client = ClientLimits()
        client.headerTimeout = .seconds(5)
        client.idleTimeout = .seconds(120)
        client.maxHeaderBytes = 16 * 1024
        client.maxBodyBytes = 1_000_000
        var session = SessionSettings()
        session.cookie.name = "__Secure-sid"
        session.cookie.secure = .always
        session.cookie.sameSite = .strict
        session.cookie.domain = "example.com"
        session.cookie.path = "/auth"
        session.idleTimeout = .seconds(3600)
        session.absoluteTimeout = .seconds(7 * 86_400)
        session.touchInterval = .seconds(30)
        session.secrets = [secretA, "0123456789abcdef0123456789abcdef-old"]
        session.store = .redis(RedisStoreSettings(url: "rediss://cache.internal:6380/2", keyPrefix: "cr:"))
        var identity = IdentitySettings()
        identity.headers = [
            HeaderMapping(header: "X-Auth-User", attribute: "sub"),
            HeaderMapping(header: "X-Auth-Groups", attribute: "groups"),
        ]
        identity.strip = ["X-Auth-*", "X-Debug"]
        var login = LoginSettings()
        login.path = "/auth/login"
        login.usersFile = "users.json"
        login.page = "https://sso.example.com/start"
        var logout = LogoutSettings()
        logout.path = "/auth/logout"
        logout.redirect = "/bye"
        var api = Upstream(
            kind: .targets([
                UpstreamTarget(host: "10.0.0.1", port: 9000),
                UpstreamTarget(host: "backend.internal", port: 80),
                UpstreamTarget(host: "::1", port: 9001),
            ]))
        api.connectTimeout = .milliseconds(500)
        api.responseTimeout = .seconds(60)
        api.idleTimeout = .seconds(90)
        api.maxConnections = 16
        let expected = Configuration(
            listeners: [
                Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 8080)),
                Listener(
                    address: SocketAddressSpec(host: "::1", port: 0),
                    tls: TLSSettings(certificatePath: certificate, privateKeyPath: privateKey)
                ),
            ],
            client: client, session: session, identity: identity, login: login, logout: logout,
            routes: [
                Route(path: "/health", upstream: "echo", auth: .none),
                Route(path: "/api/", upstream: "api", auth: .optional),
                Route(path: "/", upstream: "api", auth: .required),
            ],
            upstreams: ["api": api, "echo": Upstream(kind: .echo)],
            admin: AdminSettings(listen: SocketAddressSpec(host: "127.0.0.1", port: 9901), token: adminToken)
        )
        #expect(configuration == expected)
    }

    @Test func reportsEveryProblemInOnePassInFileOrder() {
        let yaml = """
            listen:
              - address: "localhost"
            client:
              header_timeout: soon
              max_body_bytes: lots
            session:
              secrets: ["short"]
            routes:
              - path: /
                upstream: apii
            upstreams:
              api:
                targets: ["ftp://127.0.0.1:9443"]

            """
        let found = problems(in: yaml)
        #expect(
            found.map(\.path) == [
                "listen[0].address", "client.header_timeout", "client.max_body_bytes", "session.secrets[0]",
                "routes[0].upstream", "upstreams.api.targets[0]",
            ])
        #expect(found.map(\.description).contains("client.max_body_bytes: expected a size like 10MiB, got \"lots\""))
        #expect(found.map(\.description).contains("routes[0].upstream: unknown upstream \"apii\""))
    }

    @Test func crossKeyProblemsAreSortedIntoFileOrder() {
        let yaml = """
            routes:
              - path: /
                upstream: missing
            session:
              touch_interval: 1h
            upstreams:
              api: { builtin: echo }
            listen: [{ address: "127.0.0.1:0" }]

            """
        #expect(problems(in: yaml).map(\.path) == ["routes[0].upstream", "session.touch_interval"])
    }

    @Test func syntaxErrorIsOneProblemWithLineAndColumn() {
        let yaml = "listen:\n  - address: \"127.0.0.1:8080\"\n routes: [\n"
        let found = problems(in: yaml)
        #expect(found.count == 1)
        #expect(found.first?.path == "")
        #expect(found.first?.message.hasPrefix("invalid YAML at line 3, column") == true, "\(found)")
    }

    @Test func emptyFileNeedsTheThreeRequiredSections() {
        let found = problems(in: "")
        #expect(found.map(\.path) == ["listen", "routes", "upstreams"])
        #expect(found.allSatisfy { $0.message == "required key is missing" })
    }

    @Test func topLevelMustBeAMapping() {
        expectSingleProblem("- listen\n- routes\n", at: "", "expected a mapping, got a list", exact: true)
    }

    @Test func aliasesAreFollowed() throws {
        let yaml = """
            listen: [{ address: "127.0.0.1:8080" }]
            routes:
              - { path: /a/, upstream: api, auth: &open none }
              - { path: /b/, upstream: api, auth: *open }
            upstreams: { api: { builtin: echo } }

            """
        let configuration = try #require(load(yaml))
        #expect(configuration.routes.map(\.auth) == [.none, .none])
    }

    @Test func loadReadsAFile() throws {
        let path = try temporaryFile(named: "proxy-load.yaml", contents: minimalYAML)
        let configuration = try ConfigurationLoader.load(contentsOf: path, environment: [:])
        #expect(configuration.routes == [Route(path: "/", upstream: "api")])
    }

    @Test func unreadableFileIsOneProblemNamingIt() {
        let path = "/nonexistent/cloakroom/proxy.yaml"
        do {
            _ = try ConfigurationLoader.load(contentsOf: path, environment: [:])
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.path == "")
            #expect(error.problems.first?.message.contains(path) == true)
        }
    }

    @Test func directoryIsNotAConfigurationFile() {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(contentsOf: FileManager.default.temporaryDirectory.path, environment: [:])
        }
    }

    /// The example at the root of the repository runs out of the box, with no environment.
    @Test func rootExampleParsesWithoutEnvironment() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proxy.yaml").path
        let configuration = try ConfigurationLoader.load(contentsOf: path, environment: [:])
        #expect(configuration.listeners == [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 8080))])
        #expect(configuration.session.secrets.isEmpty)
        #expect(configuration.session.store == .memory(MemoryStoreSettings()))
        // A self-contained demo: built-in login, the echo upstream; an api upstream to point at.
        #expect(
            configuration.routes == [
                Route(path: "/public/", upstream: "echo", auth: .none),
                Route(path: "/api/", upstream: "api", auth: .required),
                Route(path: "/", upstream: "echo", auth: .required),
            ])
        #expect(configuration.upstreams["echo"]?.kind == .echo)
        #expect(configuration.upstreams["api"]?.kind == .targets([UpstreamTarget(host: "127.0.0.1", port: 9000)]))
        #expect(configuration.admin == nil)
        #expect(configuration.login.usersFile == "users.yaml")
        // It writes out every default, so it must equal the defaults it documents.
        #expect(configuration.client == ClientLimits())
        #expect(configuration.session.cookie == CookieSettings())
        #expect(configuration.identity == IdentitySettings())
        var login = LoginSettings()
        login.usersFile = "users.yaml"
        #expect(configuration.login == login)
        #expect(configuration.logout == LogoutSettings())
    }
}
