import CloakroomConfig
@testable import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Phases 1 (begin) and 3 (authorize).
@Suite struct ProxyPolicyTests {
    // MARK: begin

    @Test func noRouteIs404() throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/api", upstream: "api")]))
        let error = try #require(fixture.beginFailure(makeRequest(.get, "/other")))
        #expect(error.code == .notFound)
        #expect(error.status == .notFound)
        #expect(fixture.beginFailure(makeRequest(.get, "/apix"))?.code == .notFound)
    }

    @Test func missingHostIs400() throws {
        let fixture = PolicyFixture()
        let error = try #require(fixture.beginFailure(makeRequest(.get, "/x", authority: nil)))
        #expect(error.code == .badRequest)
        #expect(error.status == .badRequest)
        #expect(error.closesConnection)
    }

    @Test func repeatedHostIs400() throws {
        // The HTTP/1 conversion moves the first Host to the authority; a second stays a field.
        let fixture = PolicyFixture()
        for spelling in ["Host", "host", "HOST"] {
            let request = makeRequest(.get, "/x", authority: "a.example", headers: [(spelling, "b.example")])
            #expect(fixture.beginFailure(request)?.code == .badRequest, "\(spelling)")
        }
    }

    @Test(arguments: ["*", "http://evil.example/x", "x", "/../etc/passwd", "/%2e%2e/x", "/a/../../b"])
    func badTargetIs400(target: String) {
        let fixture = PolicyFixture()
        #expect(fixture.beginFailure(makeRequest(.get, target))?.code == .badRequest, "\(target)")
    }

    @Test func missingPathIs400() {
        let fixture = PolicyFixture()
        #expect(fixture.beginFailure(makeRequest(.get, nil))?.code == .badRequest)
    }

    @Test func classifiesEndpoints() throws {
        let fixture = PolicyFixture()
        let cases: [(String, Exchange.Endpoint)] = [
            ("/login", .login), ("/login?next=/app", .login), ("//login", .login), ("/x/../login", .login),
            ("/logout", .logout), ("/logout?all=1", .logout), ("/a/./../logout", .logout),
            ("/login/", .proxied), ("/loginx", .proxied), ("/login/more", .proxied), ("/logoutx", .proxied),
            ("/", .proxied), ("/api/login", .proxied),
        ]
        for (target, endpoint) in cases {
            var request = makeRequest(.get, target)
            let exchange = try fixture.begin(&request)
            #expect(exchange.endpoint == endpoint, "\(target)")
        }
    }

    @Test func customLoginAndLogoutPaths() throws {
        var login = LoginSettings()
        login.path = "/auth/callback"
        var logout = LogoutSettings()
        logout.path = "/auth/signout"
        let fixture = PolicyFixture(makeConfiguration(login: login, logout: logout))
        var request = makeRequest(.get, "/auth/callback?code=1")
        #expect(try fixture.begin(&request).endpoint == .login)
        request = makeRequest(.post, "/auth/signout")
        #expect(try fixture.begin(&request).endpoint == .logout)
        request = makeRequest(.get, "/login")
        #expect(try fixture.begin(&request).endpoint == .proxied)
        request = makeRequest(.get, "/logout")
        #expect(try fixture.begin(&request).endpoint == .proxied)
    }

    @Test func logoutNeedsNoRouteButLoginDoes() throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/api", upstream: "api")]))
        var request = makeRequest(.post, "/logout")
        let exchange = try fixture.begin(&request)
        #expect(exchange.endpoint == .logout)
        #expect(exchange.route == nil)
        #expect(fixture.beginFailure(makeRequest(.post, "/login"))?.code == .notFound)
    }

    @Test func normalizesAndRewritesThePath() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "//public/./a/../b//c?q=/../x")
        let exchange = try fixture.begin(&request)
        #expect(request.path == "/public/b/c?q=/../x")
        #expect(exchange.target == "/public/b/c?q=/../x")
        #expect(exchange.route?.index == 0)
    }

    @Test func leavesOrdinaryPathsAsSent() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/public/a/b?x=1")
        let exchange = try fixture.begin(&request)
        #expect(request.path == "/public/a/b?x=1")
        #expect(exchange.target == "/public/a/b?x=1")
    }

    @Test func routesOnTheNormalizedPath() throws {
        // `/public/../private` must be authorized as `/private`, not as a public path.
        let fixture = PolicyFixture()
        for target in ["/public/../private", "/public/%2e%2e/private", "/public/%2E%2E/private"] {
            var request = makeRequest(.get, target)
            let exchange = try fixture.begin(&request)
            #expect(exchange.route?.index == 1, "\(target)")
            #expect(exchange.route?.auth == .required, "\(target)")
            #expect(request.path == "/private", "\(target)")
            guard case .respond(let response) = fixture.policy.authorize(exchange) else {
                Issue.record("\(target) was forwarded without a session")
                continue
            }
            #expect(response.head.status == .unauthorized)
        }
    }

    @Test func percentEncodedLettersCannotDodgeARoute() throws {
        // `%61` is `a` (RFC 3986 §6.2.2.2: percent-encoded unreserved characters are equivalent
        // to the characters). Backends decode them, so `/%61dmin` reaches `/admin` and must be
        // authorized as `/admin`, as nginx's `location` matching does.
        let fixture = PolicyFixture(
            makeConfiguration(routes: [
                Route(path: "/admin", upstream: "api", auth: .required),
                Route(path: "/", upstream: "api", auth: .none),
            ]))
        for target in ["/%61dmin/users", "/adm%69n", "/admi%6E/x?y=1"] {
            var request = makeRequest(.get, target)
            let exchange = try fixture.begin(&request)
            #expect(exchange.route?.auth == .required, "\(target) matched \(exchange.route?.path ?? "no route")")
            guard case .respond(let response) = fixture.policy.authorize(exchange) else {
                Issue.record("\(target) was forwarded to the admin backend without a session")
                continue
            }
            #expect(response.head.status == .unauthorized, "\(target)")
        }
    }

    @Test func takesTheSessionCookie() async throws {
        let fixture = PolicyFixture()
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/x", headers: [("Cookie", "a=1; \(cookie); b=2")])
        let exchange = try fixture.begin(&request)
        #expect(exchange.presentedID == id)
        #expect(exchange.session == nil, "begin does not look up")
        #expect(request.headerFields[.cookie] == "a=1; b=2")
    }

    @Test func forgedCookieIsNotPresented() throws {
        let fixture = PolicyFixture()
        let forged = SessionCookieCodec(secrets: [TestSecrets.other]).encode(SessionID.random())
        var request = makeRequest(.get, "/x", headers: [("Cookie", "cloakroom_session=\(forged)")])
        let exchange = try fixture.begin(&request)
        #expect(exchange.presentedID == nil)
        #expect(!exchange.needsLookup)
        #expect(request.headerFields[.cookie] == nil)
    }

    @Test func recordsRequestFacts() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.post, "/x", headers: [("Accept", "text/html,application/xhtml+xml;q=0.9")])
        let exchange = try fixture.begin(&request, client: tlsClient, requestID: "abc-123")
        #expect(exchange.requestID == "abc-123")
        #expect(exchange.method == .post)
        #expect(exchange.acceptsHTML)
        #expect(exchange.client.isSecure)
        #expect(exchange.client.address == "192.0.2.10")

        var json = makeRequest(.get, "/x", headers: [("Accept", "application/json")])
        #expect(try !fixture.begin(&json).acceptsHTML)
        var none = makeRequest(.get, "/x")
        #expect(try !fixture.begin(&none).acceptsHTML)
    }

    /// `text/html` accepted, as RFC 9110 §12.5.1 reads `Accept`: the most specific range decides
    /// (`text/*` covers it); `*/*`, which every API client sends, does not count; a client that
    /// prefers another type is no browser (``BrowserAcceptTests`` has the rest).
    @Test(arguments: [
        ("text/html", true), ("TEXT/HTML", true), ("text/*", true), ("application/json, text/html;q=0.5", false),
        ("text/html;q=0", false), ("text/*;q=0", false), ("text/*, text/html;q=0", false), ("text/html;q=0.1, text/*;q=0", true),
        ("*/*", false), ("application/json", false), ("text/plain", false),
    ])
    func acceptsHTMLReadsTheMostSpecificRange(_ accept: String, _ expected: Bool) {
        #expect(ProxyPolicy.acceptsHTML(accept) == expected, "\(accept)")
    }

    @Test func needsLookupOnlyWhenAuthIsConsulted() async throws {
        let routes = [
            Route(path: "/none", upstream: "api", auth: .none),
            Route(path: "/optional", upstream: "api", auth: .optional),
            Route(path: "/", upstream: "api", auth: .required),
        ]
        let fixture = PolicyFixture(makeConfiguration(routes: routes))
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let cases: [(String, Bool)] = [
            ("/none/x", false), ("/optional/x", true), ("/required", true), ("/login", true), ("/logout", true),
        ]
        for (path, expected) in cases {
            var request = makeRequest(.get, path, headers: [("Cookie", cookie)])
            #expect(try fixture.begin(&request).needsLookup == expected, "\(path)")
            var anonymous = makeRequest(.get, path)
            #expect(try !fixture.begin(&anonymous).needsLookup, "\(path) without a cookie")
        }
    }

    // MARK: authorize

    @Test func requiredRouteWithoutSessionIs401JSON() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/private", headers: [("Accept", "application/json")])
        let exchange = try fixture.begin(&request, requestID: "rid-401")
        guard case .respond(let response) = fixture.policy.authorize(exchange) else {
            Issue.record("expected a local 401")
            return
        }
        #expect(response.head.status == .unauthorized)
        #expect(try json(response.body) == ["error": "unauthenticated"])
        #expect(response.head.headerFields[.xRequestID] == "rid-401")
        #expect(response.head.headerFields[.contentType] == "application/json")
        #expect(!response.close)
    }

    @Test func browsersAreRedirectedToTheLoginPage() throws {
        var login = LoginSettings()
        login.page = "/signin"
        let fixture = PolicyFixture(makeConfiguration(login: login))
        for method in [HTTPRequest.Method.get, .head] {
            var request = makeRequest(method, "/app/x?q=1&r=a b", headers: [("Accept", "text/html")])
            let exchange = try fixture.begin(&request, requestID: "rid-303")
            guard case .respond(let response) = fixture.policy.authorize(exchange) else {
                Issue.record("expected a redirect for \(method)")
                continue
            }
            #expect(response.head.status == .seeOther)
            #expect(response.head.headerFields[.location] == "/signin?next=/app/x%3Fq%3D1%26r%3Da%20b")
            #expect(response.head.headerFields[.xRequestID] == "rid-303")
            #expect(response.body.isEmpty)
        }
    }

    @Test func loginPageWithAQueryGetsAnAmpersand() throws {
        var login = LoginSettings()
        login.page = "https://sso.example/start?app=cloak"
        let fixture = PolicyFixture(makeConfiguration(login: login))
        var request = makeRequest(.get, "/dash", headers: [("Accept", "text/html")])
        guard case .respond(let response) = fixture.policy.authorize(try fixture.begin(&request)) else {
            Issue.record("expected a redirect")
            return
        }
        #expect(response.head.headerFields[.location] == "https://sso.example/start?app=cloak&next=/dash")
    }

    @Test func nonBrowsersAndNonGETsStillGet401WithALoginPage() throws {
        var login = LoginSettings()
        login.page = "/signin"
        let fixture = PolicyFixture(makeConfiguration(login: login))
        let cases: [(HTTPRequest.Method, String)] = [
            (.post, "text/html"), (.get, "application/json"), (.delete, "text/html"), (.get, "*/*"),
        ]
        for (method, accept) in cases {
            var request = makeRequest(method, "/private", headers: [("Accept", accept)])
            guard case .respond(let response) = fixture.policy.authorize(try fixture.begin(&request)) else {
                Issue.record("expected a 401 for \(method) \(accept)")
                continue
            }
            #expect(response.head.status == .unauthorized, "\(method) \(accept)")
        }
    }

    @Test func browsersGet401WithoutALoginPage() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/private", headers: [("Accept", "text/html")])
        guard case .respond(let response) = fixture.policy.authorize(try fixture.begin(&request)) else {
            Issue.record("expected a 401")
            return
        }
        #expect(response.head.status == .unauthorized)
        #expect(response.head.headerFields[.location] == nil)
    }

    @Test func requiredRouteWithSessionIsForwarded() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/private", headers: [("Cookie", cookie)])
        let exchange = try await fixture.beginAndLookUp(&request)
        #expect(exchange.session?.subject == "alice")
        guard case .forward = fixture.policy.authorize(exchange) else {
            Issue.record("expected forward")
            return
        }
    }

    @Test func optionalAndNoneRoutesForwardWithoutSession() throws {
        let routes = [
            Route(path: "/none", upstream: "api", auth: .none),
            Route(path: "/optional", upstream: "api", auth: .optional),
        ]
        let fixture = PolicyFixture(makeConfiguration(routes: routes))
        for path in ["/none", "/optional/x"] {
            var request = makeRequest(.get, path)
            guard case .forward = fixture.policy.authorize(try fixture.begin(&request)) else {
                Issue.record("\(path) was not forwarded")
                continue
            }
        }
    }

    @Test func loginPathIsReachableWithoutSessionOnARequiredRoute() throws {
        let fixture = PolicyFixture()  // `/` is required
        var request = makeRequest(.post, "/login")
        let exchange = try fixture.begin(&request)
        #expect(exchange.route?.auth == .required)
        guard case .forward = fixture.policy.authorize(exchange) else {
            Issue.record("login.path must be forwarded without a session")
            return
        }
    }

    @Test func expiredOrRevokedSessionIsNoSession() async throws {
        let fixture = PolicyFixture()
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        fixture.clock.advance(by: .seconds(30 * 60 + 1))  // past the idle timeout
        var request = makeRequest(.get, "/private", headers: [("Cookie", cookie)])
        var exchange = try await fixture.beginAndLookUp(&request)
        #expect(exchange.presentedID == id)
        #expect(exchange.session == nil)
        guard case .respond(let expired) = fixture.policy.authorize(exchange) else {
            Issue.record("an expired session was accepted")
            return
        }
        #expect(expired.head.status == .unauthorized)

        let (other, otherCookie) = try await fixture.login(["sub": "bob"])
        _ = try await fixture.store.revoke(key: other.key)
        request = makeRequest(.get, "/private", headers: [("Cookie", otherCookie)])
        exchange = try await fixture.beginAndLookUp(&request)
        guard case .respond(let revoked) = fixture.policy.authorize(exchange) else {
            Issue.record("a revoked session was accepted")
            return
        }
        #expect(revoked.head.status == .unauthorized)
    }

    @Test func logoutEndpointOnlyAcceptsGETAndPOST() throws {
        let fixture = PolicyFixture()
        for method in [HTTPRequest.Method.get, .post] {
            var request = makeRequest(method, "/logout")
            guard case .logout = fixture.policy.authorize(try fixture.begin(&request)) else {
                Issue.record("\(method) /logout did not log out")
                continue
            }
        }
        for method in [HTTPRequest.Method.put, .delete, .patch, .head, .options] {
            var request = makeRequest(method, "/logout")
            guard case .respond(let response) = fixture.policy.authorize(try fixture.begin(&request, requestID: "r405")) else {
                Issue.record("\(method) /logout was not refused")
                continue
            }
            #expect(response.head.status == .methodNotAllowed, "\(method)")
            #expect(try json(response.body) == ["error": "method_not_allowed"])
            #expect(response.head.headerFields[.xRequestID] == "r405")
            #expect(response.head.headerFields[.allow] == "GET, POST", "RFC 9110 §15.5.6: a 405 names what is allowed")
        }
    }

    @Test func lookupFailureMeans503() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/private")
        let exchange = try fixture.begin(&request)
        let error = fixture.policy.lookupFailed(SessionStoreError.unavailable("down"), exchange: exchange)
        #expect(error.code == .storeUnavailable)
        #expect(error.status == .serviceUnavailable)
        let response = error.response(requestID: "r503")
        #expect(try json(response.body) == ["error": "session_store_unavailable"])
    }
}
