import Testing

@testable import CloakroomConfig

/// Settings that parse but could never do what they say, and names that would undo what the
/// proxy protects: each refused with its key path (found by the round-16 audits, one test each).
@Suite("Settings that could not take effect")
struct UnusedSettingsConfigTests {
    private static let secret = String(repeating: "s", count: 32)

    @Test func aCORSWildcardIsNoMethodOrHeader() {
        for (key, value) in [("headers", "['*']"), ("methods", "[GET, '*']")] {
            let found = problems(in: minimalYAML.replacingOccurrences(
                of: "upstream: api\n", with: "upstream: api\n    cors: { origins: [\"https://a.example\"], \(key): \(value) }\n"))
            #expect(found.count == 1 && found[0].message.contains("not a wildcard here"), "\(found)")
            #expect(found.first.map { "\($0.path)".hasPrefix("routes[0].cors.\(key)[") } == true, "\(found)")
        }
    }

    @Test(arguments: ["X-Forwarded-Ssl", "X-Original-URL", "True-Client-IP", "X_Forwarded_Prefix", "Authorization", "content-type"])
    func identityCannotTakeAFieldTheProxyProtectsOrTheClientsOwn(_ name: String) {
        let found = problems(in: minimal(adding: "identity: { headers: { \(name): sub } }\n"))
        #expect(found.map(\.path) == ["identity.headers.\(name)"], "\(found)")
        #expect(found.first?.message.contains("cannot carry identity") == true, "\(found)")
    }

    @Test(arguments: ["X_Forwarded_For", "X-Forwarded-Prefix", "Content-Type"])
    func norCanTheAssertion(_ name: String) {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: \(name) } }\n"), at: "identity.assertion.header", "cannot carry the assertion")
    }

    @Test func stripCannotNameAFieldTheProxyWrites() {
        expectSingleProblem(minimal(adding: "identity: { strip: [\"X-Debug\", Host] }\n"), at: "identity.strip[1]", "host_header says")
        // Found by an audit: a framing field's message spoke of Host.
        expectSingleProblem(
            minimal(adding: "identity: { strip: [Transfer-Encoding] }\n"), at: "identity.strip[0]", "frames the message, which the proxy")
        #expect(load(minimal(adding: "identity: { strip: [\"*\"] }\n")) != nil, "a pattern leaves Host to the proxy")
    }

    @Test func theSelfServicePageCannotHideTheKeys() {
        expectSingleProblem(
            minimal(adding: "session: { self_service: /.well-known/cloakroom }\n"), at: "session.self_service",
            "publishes the assertion keys")
        expectSingleProblem(
            minimal(adding: "logout: { path: /.well-known/cloakroom/jwks.json }\n"), at: "logout.path", "publishes the assertion keys")
    }

    @Test func theCookieMustReachTheSelfServicePage() {
        let yaml = minimal(adding: """
            session: { self_service: /.cloakroom/sessions, cookie: { path: /app } }
            login: { path: /app/login }
            logout: { path: /app/logout }

            """)
        expectSingleProblem(yaml, at: "session.cookie.path", "session.self_service (/.cloakroom/sessions)")
    }

    @Test func aProviderNameNeedsTheLoginPage() {
        let oidc = CredentialsConfigTests.oidc + "    name: Corp SSO\n"
        expectSingleProblem(minimal(adding: oidc), at: "login.oidc.name", "needs login.users_file")
    }

    @Test func aDelegatedLoginNeedsARoute() {
        let yaml = """
            listen: [{ address: "127.0.0.1:8080" }]
            routes: [{ path: /app/, upstream: api, auth: required }]
            upstreams: { api: { targets: ["http://127.0.0.1:9000"] } }
            login: { path: /signin }

            """
        expectSingleProblem(yaml, at: "login.path", "no route serves /signin")
        #expect(
            load(yaml.replacingOccurrences(of: "login: { path: /signin }", with: "login: { path: /app/signin }")) != nil,
            "under a route")
        #expect(load(yaml.replacingOccurrences(of: "login: { path: /signin }\n", with: "")) != nil, "the default is not judged")
    }
}
