import Foundation
import Testing

@testable import CloakroomConfig

/// `session.trusted_origins` and `login.throttle`, added for the built-in login and CSRF defence.
@Suite struct BrowserLoginKeysTests {
    @Test func defaultsWhenAbsent() throws {
        let configuration = try ConfigurationLoader.parse(minimalYAML, environment: [:])
        #expect(configuration.session.trustedOrigins == [])
        #expect(configuration.login.throttle == LoginThrottleSettings())
        #expect(configuration.login.throttle.maxFailures == 5)
    }

    @Test func parsesTrustedOriginsLowerCased() throws {
        let configuration = try ConfigurationLoader.parse(
            minimal(adding: "session:\n  trusted_origins: [\"https://App.Example.com\", \"http://127.0.0.1:3000\"]\n"), environment: [:])
        #expect(configuration.session.trustedOrigins == ["https://app.example.com", "http://127.0.0.1:3000"])
    }

    /// Browsers leave the scheme's default port out of `Origin`: an entry that names it is
    /// stored without it, or it would pass `check` and never match (found by a black-box audit).
    @Test func dropsTheSchemesDefaultPort() throws {
        let configuration = try ConfigurationLoader.parse(
            minimal(adding: "session:\n  trusted_origins: [\"https://a.test:443\", \"HTTP://B.test:80\", \"http://c.test:443\", \"https://d.test:80\", "
                + "\"https://[::1]:443\", \"https://e.test:8443\", \"https://f.test:0443\"]\n"), environment: [:])
        #expect(configuration.session.trustedOrigins == [
            "https://a.test", "http://b.test", "http://c.test:443", "https://d.test:80", "https://[::1]", "https://e.test:8443", "https://f.test",
        ])
    }

    @Test(arguments: ["app.example.com", "https://app.example.com/path", "ftp://x", "https://", "https://user@host"])
    func rejectsOriginsThatAreNotOrigins(_ origin: String) {
        let found = problems(in: minimal(adding: "session:\n  trusted_origins: [\"\(origin)\"]\n"))
        #expect(found.map(\.path) == ["session.trusted_origins[0]"], "\(origin): \(found)")
    }

    /// As in `routes[].cors.origins`: an origin compares whole, so a wildcard in one never
    /// matches (found by a black-box audit, for `cors`; this list had the same gap).
    @Test(arguments: ["https://*.example.com", "*"])
    func rejectsWildcards(_ origin: String) {
        let found = problems(in: minimal(adding: "session:\n  trusted_origins: [\"https://ok.test\", \"\(origin)\"]\n"))
        #expect(found.map(\.path) == ["session.trusted_origins[1]"], "\(origin): \(found)")
        #expect(found.first?.message.contains("wildcards inside an origin are not supported") == true, "\(found)")
    }

    @Test func parsesThrottle() throws {
        let configuration = try ConfigurationLoader.parse(
            minimal(adding: "login:\n  users_file: users.yaml\n  throttle: { max_failures: 3, window: 10m, max_delay: 1h }\n"),
            environment: [:])
        #expect(configuration.login.throttle.maxFailures == 3)
        #expect(configuration.login.throttle.window == .seconds(600))
        #expect(configuration.login.throttle.maxDelay == .seconds(3600))
    }

    /// Found by an audit: a throttle without the built-in login was accepted and throttled nothing.
    @Test func aThrottleNeedsTheBuiltInLogin() {
        for login in ["throttle: { max_failures: 3 }", "users_file: null\n  throttle: { max_failures: 3 }"] {
            expectSingleProblem(minimal(adding: "login:\n  \(login)\n"), at: "login.throttle", "set login.users_file")
        }
        #expect(load(minimal(adding: "login:\n  throttle: null\n")) != nil, "null is no setting")
    }

    @Test func throttleProblemsHaveKeyPaths() {
        let found = problems(in: minimal(adding: "login:\n  throttle: { max_failures: 0, windw: 10m }\n")).map(\.path)
        #expect(found.contains("login.throttle.max_failures"))
        #expect(found.contains("login.throttle.windw"))
    }
}
