import Testing

@testable import CloakroomConfig

/// The cross-key rules, run directly on typed configurations.
@Suite("Configuration cross-key rules")
struct ConfigurationValidationTests {
    private func base() -> Configuration {
        Configuration(
            listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 8080))],
            session: SessionSettings(),
            routes: [Route(path: "/", upstream: "api")],
            upstreams: ["api": Upstream(kind: .echo)]
        )
    }

    private func paths(_ configuration: Configuration, invalid: [ConfigPath] = []) -> [String] {
        configuration.crossKeyProblems { path in !invalid.contains { path.isWithin($0) || $0.isWithin(path) } }
            .map(\.path.description)
    }

    @Test func defaultsPass() {
        #expect(paths(base()).isEmpty)
    }

    @Test func everyRuleReportsAtItsKey() {
        var configuration = base()
        configuration.listeners.append(Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 8080)))
        configuration.session.cookie.name = "__Host-sid"
        configuration.session.cookie.secure = .never
        configuration.session.cookie.sameSite = .none
        configuration.session.cookie.path = "/app"
        configuration.session.cookie.domain = "example.com"
        configuration.session.touchInterval = .seconds(3600)
        configuration.session.store = .file(FileStoreSettings(path: "s.db"))
        configuration.logout.path = "/login"
        configuration.routes.append(Route(path: "/", upstream: "nope"))
        configuration.admin = AdminSettings(listen: SocketAddressSpec(host: "127.0.0.1", port: 8080), token: "")
        #expect(
            paths(configuration) == [
                "listen[1].address", "admin.listen", "session.cookie.same_site", "session.cookie.secure",
                "session.cookie.path",
                "session.cookie.domain", "session.touch_interval", "session.secrets", "logout.path",
                "routes[1].upstream",
                "routes[1].path",
            ])
    }

    @Test func rulesSkipKeysThatAreAlreadyWrong() {
        var configuration = base()
        configuration.session.touchInterval = .seconds(3600)
        configuration.routes = [Route(path: "/", upstream: "")]
        configuration.session.store = .redis(RedisStoreSettings())
        #expect(
            paths(
                configuration,
                invalid: [
                    ConfigPath("session", "idle_timeout"), ConfigPath("routes").appending(index: 0),
                    ConfigPath("session", "secrets"),
                ]
            ).isEmpty)
    }

    @Test func portZeroListenersNeverClash() {
        var configuration = base()
        configuration.listeners = [
            Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0)),
            Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0)),
        ]
        configuration.admin = AdminSettings(listen: SocketAddressSpec(host: "127.0.0.1", port: 0), token: "")
        #expect(paths(configuration).isEmpty)
    }

    @Test func securePrefixIsMatchedCaseInsensitively() {
        var configuration = base()
        configuration.session.cookie.name = "__secure-sid"
        configuration.session.cookie.secure = .never
        #expect(paths(configuration) == ["session.cookie.secure"])
    }
}
