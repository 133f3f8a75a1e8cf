import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Phases 1 and 3 for routes in front of real APIs: the request's host chooses the route,
/// `rewrite_prefix` changes what is forwarded, and `allow` refuses sessions with 403.
@Suite struct ProxyPolicyRoutingTests {
    static let routes = [
        Route(path: "/", upstream: "api", auth: .required, host: .exact("admin.example.com"), allow: [
            AllowRule(conditions: [.init(attribute: "roles", patterns: ["admin"])]),
        ]),
        Route(path: "/svc/", upstream: "api", auth: .optional, host: .wildcard(suffix: "example.com"), rewritePrefix: "/base"),
        Route(path: "/open/", upstream: "api", auth: .none),
    ]

    func exchange(
        _ fixture: PolicyFixture, _ path: String, host: String, cookie: String? = nil, accept: String? = nil
    ) async throws -> (Exchange, HTTPRequest) {
        var headers: [(String, String)] = []
        if let cookie { headers.append(("Cookie", cookie)) }
        if let accept { headers.append(("Accept", accept)) }
        var request = makeRequest(.get, path, authority: host, headers: headers)
        let exchange = try await fixture.beginAndLookUp(&request)
        return (exchange, request)
    }

    @Test func theRequestHostChoosesTheRoute() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        #expect(try await exchange(fixture, "/x", host: "Admin.Example.com:8443").0.route?.index == 0)
        #expect(try await exchange(fixture, "/svc/x", host: "api.example.com").0.route?.index == 1)
        #expect(try await exchange(fixture, "/open/x", host: "anything.org").0.route?.index == 2)
        let missing = try #require(fixture.beginFailure(makeRequest(.get, "/x", authority: "api.example.com")))
        #expect(missing.code == .notFound)
        #expect(missing.response(requestID: "r").body == Array("{\"error\":\"not_found\"}".utf8))
    }

    @Test func rewritePrefixChangesTheForwardedPathAndKeepsTheQuery() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (exchange, request) = try await exchange(fixture, "/svc//a/./b?x=1&y=%2F", host: "api.example.com")
        #expect(request.path == "/base/a/b?x=1&y=%2F")
        #expect(exchange.target == "/svc/a/b?x=1&y=%2F", "the exchange keeps the client's path (logs, next=)")
        #expect(try await self.exchange(fixture, "/svc/", host: "api.example.com").1.path == "/base/")
    }

    @Test(arguments: [
        ("/svc/", "/base", "/svc/x", "/base/x"), ("/svc/", "/base", "/svc/", "/base/"), ("/svc/", "/base/", "/svc/x/y", "/base/x/y"),
        ("/svc", "/base", "/svc", "/base"), ("/svc", "/base", "/svc/x", "/base/x"), ("/svc", "/base/", "/svc/x", "/base/x"),
        ("/api/", "/", "/api/users", "/users"), ("/api", "/", "/api", "/"), ("/api", "/", "/api/users", "/users"),
        ("/", "/v1", "/x", "/v1/x"), ("/", "/v1/", "/", "/v1/"),
        // A segment's parameters go with it: routed on /svc/, the rest kept as it came.
        ("/svc/", "/base", "/svc;v=1/x;y", "/base/x;y"), ("/a/b/", "/c", "/a;p/b;q/d", "/c/d"), ("/svc", "/base", "/svc;v=1", "/base"),
    ])
    func rewriteJoinsWithExactlyOneSlash(route: String, prefix: String, path: String, forwarded: String) async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: route, upstream: "api", auth: .none, rewritePrefix: prefix)]))
        var request = makeRequest(.get, path)
        _ = try fixture.begin(&request)
        #expect(request.path == forwarded, "\(route) → \(prefix): \(path)")
    }

    /// A route's rules hold however its path is spelled (found by an audit): `%3A` for `:`,
    /// `%7C` for `|` and the other way round, a segment's `;` parameters (Tomcat, Jetty and
    /// Spring read `/admin;x/secret` as `/admin/secret`).
    @Test func aRouteIsMatchedWhateverTheSpellingOfItsPath() async throws {
        let routes = [
            Route(path: "/v1/things:purge", upstream: "api", auth: .required),
            Route(path: "/r%7Cs/", upstream: "api", auth: .required),
            Route(path: "/admin/", upstream: "api", auth: .required),
            Route(path: "/", upstream: "api", auth: .none),
        ]
        let fixture = PolicyFixture(makeConfiguration(routes: routes))
        for (path, index) in [
            ("/v1/things:purge", 0), ("/v1/things%3Apurge", 0), ("/v1/things%3apurge", 0), ("/r|s/x", 1), ("/r%7cs/x", 1),
            ("/admin;x/secret", 2), ("/admin;jsessionid=1/", 2), ("/admin%3Bx/secret", 3),
        ] {
            var request = makeRequest(.get, path)
            #expect(try fixture.begin(&request).route?.index == index, "\(path)")
        }
    }

    /// `/open` where the first route to match is `/open/`: redirected there (nginx's and Go's
    /// ServeMux's answer), never forwarded to a later route without this one's rules.
    @Test func theBarePathOfATrailingSlashRouteIsRedirectedToIt() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes + [Route(path: "/", upstream: "api", auth: .none)]))
        var get = makeRequest(.get, "/open?x=1", authority: "anything.org")
        let exchange = try fixture.begin(&get)
        #expect(exchange.endpoint == .directoryRedirect)
        #expect(!exchange.needsLookup)
        guard case .respond(let moved) = fixture.policy.authorize(exchange) else {
            Issue.record("expected a redirect")
            return
        }
        #expect(moved.head.status == .movedPermanently)
        #expect(moved.head.headerFields[.location] == "/open/?x=1")
        var post = makeRequest(.post, "/open", authority: "anything.org")
        guard case .respond(let kept) = fixture.policy.authorize(try fixture.begin(&post)) else {
            Issue.record("expected a redirect")
            return
        }
        #expect(kept.head.status == .permanentRedirect, "308 keeps the method and body")
        #expect(kept.head.headerFields[.location] == "/open/")
        var inside = makeRequest(.get, "/open/", authority: "anything.org")
        #expect(try fixture.begin(&inside).endpoint == .proxied)
        var other = makeRequest(.get, "/openx", authority: "anything.org")
        #expect(try fixture.begin(&other).endpoint == .proxied)
    }

    @Test func allowAdmitsMatchingSessionsAndRefusesOthersWith403() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, admin) = try await fixture.login(["sub": "ada", "roles": ["reader", "admin"]])
        let (_, reader) = try await fixture.login(["sub": "rob", "roles": ["reader"]])

        let (allowed, _) = try await exchange(fixture, "/x", host: "admin.example.com", cookie: admin)
        guard case .forward = fixture.policy.authorize(allowed) else { Issue.record("admin not forwarded"); return }

        let (refused, _) = try await exchange(fixture, "/x", host: "admin.example.com", cookie: reader)
        guard case .respond(let response) = fixture.policy.authorize(refused) else { Issue.record("reader forwarded"); return }
        #expect(response.head.status == .forbidden)
        #expect(response.body == Array("{\"error\":\"forbidden\"}".utf8))
        #expect(response.head.headerFields[.xRequestID] == "req-1")
        #expect(response.head.headerFields[.contentType] == "application/json")
        #expect(!String(decoding: response.body, as: UTF8.self).contains("rob"))
    }

    @Test func browsersGetA403Page() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, reader) = try await fixture.login(["sub": "quintus", "email": "quintus@example.com", "roles": ["reader"]])
        let (refused, _) = try await exchange(fixture, "/x", host: "admin.example.com", cookie: reader, accept: "text/html")
        guard case .respond(let response) = fixture.policy.authorize(refused) else { Issue.record("forwarded"); return }
        let page = String(decoding: response.body, as: UTF8.self)
        #expect(response.head.status == .forbidden)
        #expect(response.head.headerFields[.contentType] == "text/html; charset=utf-8")
        #expect(response.head.headerFields[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'none'") == true)
        #expect(page.contains("Access denied"))
        #expect(page.contains("href=\"/logout\""))
        #expect(!page.contains("quintus"), "no session attribute in the page")
        #expect(!page.contains("src="), "self-contained: nothing loads from elsewhere")
    }

    @Test func noSessionIsJudgedByAuthNotByAllow() async throws {
        let routes = [
            Route(path: "/opt/", upstream: "api", auth: .optional, allow: [AllowRule(conditions: [.init(attribute: "roles", patterns: ["admin"])])]),
            Route(path: "/", upstream: "api", auth: .required, allow: [AllowRule(conditions: [.init(attribute: "roles", patterns: ["admin"])])]),
        ]
        let fixture = PolicyFixture(makeConfiguration(routes: routes))
        let (optional, _) = try await exchange(fixture, "/opt/x", host: "proxy.example")
        guard case .forward = fixture.policy.authorize(optional) else { Issue.record("optional without session refused"); return }
        let (required, _) = try await exchange(fixture, "/x", host: "proxy.example")
        guard case .respond(let response) = fixture.policy.authorize(required) else { Issue.record("forwarded"); return }
        #expect(response.head.status == .unauthorized)
    }

    @Test func loginAndLogoutAreNotSubjectToAllow() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, reader) = try await fixture.login(["sub": "rob", "roles": ["reader"]])
        let (login, _) = try await exchange(fixture, "/login", host: "admin.example.com", cookie: reader)
        #expect(login.endpoint == .login)
        guard case .forward = fixture.policy.authorize(login) else { Issue.record("login.path refused"); return }
        let (logout, _) = try await exchange(fixture, "/logout", host: "admin.example.com", cookie: reader)
        guard case .logout = fixture.policy.authorize(logout) else { Issue.record("logout.path refused"); return }
    }

    @Test func aRemovedRoleIsRefusedOnTheNextRequest() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (id, cookie) = try await fixture.login(["sub": "ada", "roles": ["admin"]])
        let (before, _) = try await exchange(fixture, "/x", host: "admin.example.com", cookie: cookie)
        guard case .forward = fixture.policy.authorize(before) else { Issue.record("refused before the update"); return }
        _ = try await fixture.store.update(key: id.key, patch: ["roles": ["reader"]])
        let (after, _) = try await exchange(fixture, "/x", host: "admin.example.com", cookie: cookie)
        guard case .respond(let response) = fixture.policy.authorize(after) else { Issue.record("forwarded after the update"); return }
        #expect(response.head.status == .forbidden)
    }
}
