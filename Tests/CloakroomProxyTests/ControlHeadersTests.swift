import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Phases 5 and 6: the backend's `Session-*` control headers, through
/// ``ProxyPolicy/filterResponse(_:exchange:)`` and ``ProxyPolicy/apply(_:exchange:)``.
@Suite struct ControlHeadersTests {
    /// Routes: `/public/` none, `/optional/` optional, everything else required.
    let fixture = PolicyFixture(
        makeConfiguration(routes: [
            Route(path: "/public/", upstream: "api", auth: .none),
            Route(path: "/optional/", upstream: "api", auth: .optional),
            Route(path: "/", upstream: "api", auth: .required),
        ]))

    /// Begins and looks up a request, as the server does before forwarding it.
    func makeExchange(
        _ method: HTTPRequest.Method = .get, _ path: String, cookie: String? = nil, client: ClientInfo = plainClient,
        requestID: String = "rid-ctl"
    ) async throws -> Exchange {
        var request = makeRequest(method, path, headers: cookie.map { [("Cookie", $0)] } ?? [])
        return try await fixture.beginAndLookUp(&request, client: client, requestID: requestID)
    }

    /// Filters a response with these headers; returns the effects and the filtered response.
    func filter(
        _ status: HTTPResponse.Status = .ok, _ headers: [(String, String)], exchange: Exchange
    ) -> ([SessionEffect], HTTPResponse) {
        var response = makeResponse(status, headers: headers)
        let effects = fixture.policy.filterResponse(&response, exchange: exchange)
        return (effects, response)
    }

    static let controlHeaders: [(String, String)] = [
        ("Session-Login", #"{"sub":"mallory"}"#), ("Session-Update", #"{"role":"admin"}"#), ("Session-Logout", "all"),
    ]

    // MARK: filterResponse: what reaches the client

    @Test(arguments: ["/public/x", "/optional/x", "/private", "/login"])
    func controlHeadersAreAlwaysRemoved(path: String) async throws {
        let exchange = try await makeExchange(.get, path)
        let (_, response) = filter(
            .ok, Self.controlHeaders + [("session-login", "{}"), ("Content-Type", "text/plain")], exchange: exchange)
        let names = response.headerFields.map(\.name.canonicalName)
        #expect(!names.contains { $0.hasPrefix("session-") }, "\(path): \(names)")
        #expect(response.headerFields[.contentType] == "text/plain")
    }

    @Test func controlHeadersAreRemovedAlsoWhenIgnored() async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, response) = filter(
            .internalServerError, [("Session-Login", "not json"), ("Session-Update", "[1]"), ("Session-Logout", "nope")],
            exchange: exchange)
        #expect(effects.isEmpty)
        #expect(response.headerFields[.xRequestID] == "rid-ctl")
        #expect(response.headerFields[.sessionLogin] == nil)
        #expect(response.headerFields[.sessionUpdate] == nil)
        #expect(response.headerFields[.sessionLogout] == nil)
    }

    @Test func hopByHopRemovedAndRequestIDSet() async throws {
        let exchange = try await makeExchange(.get, "/public/x", requestID: "rid-resp")
        let (effects, response) = filter(
            .ok,
            [
                ("Connection", "close, X-Hop"), ("Keep-Alive", "timeout=5"), ("X-Hop", "1"),
                ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("X-Request-Id", "upstream-id"),
                ("Content-Type", "application/json"), ("Set-Cookie", "backend=1"),
            ], exchange: exchange)
        #expect(effects.isEmpty)
        let fields = response.headerFields
        #expect(values("X-Request-Id", in: fields) == ["rid-resp"])
        #expect(Set(fields.map(\.name.canonicalName)) == ["x-request-id", "content-type", "set-cookie"])
        #expect(fields[.setCookie] == "backend=1")
    }

    @Test func requestIDIsSetWhenTheUpstreamSentNone() async throws {
        let exchange = try await makeExchange(.get, "/public/x", requestID: "rid-new")
        let (_, response) = filter(.ok, [], exchange: exchange)
        #expect(response.headerFields[.xRequestID] == "rid-new")
        #expect(response.status == .ok)
    }

    // MARK: Session-Login

    @Test(arguments: [200, 201, 204, 302, 303, 307])
    func loginHonouredOn2xxAnd3xx(code: Int) async throws {
        let exchange = try await makeExchange(.post, "/login")
        let (effects, _) = filter(
            HTTPResponse.Status(code: code), [("Session-Login", #"{"sub":"alice","roles":["a","b"],"n":1}"#)],
            exchange: exchange)
        #expect(effects == [.login(["sub": "alice", "roles": ["a", "b"], "n": 1], replacing: nil)], "\(code)")
    }

    /// JSON must be UTF-8 (RFC 8259 §8.1). Found by an audit: a backend writing Latin-1 (as
    /// Python's `http.server` does) had its `Müller` and `Måller` read as one `M\u{FFFD}ller`,
    /// one user for `X-User-Id`, `Session-Logout: all` and `max_per_user`. Such a header is
    /// ignored, whichever control header it is; the UTF-8 spelling is taken.
    @Test func controlHeadersThatAreNotUTF8AreIgnored() async throws {
        func response(_ name: String, _ value: [UInt8]) -> HTTPResponse {
            var fields = HTTPFields()
            fields.append(HTTPField(name: HTTPField.Name(name)!, value: value))
            return HTTPResponse(status: .ok, headerFields: fields)
        }
        let login = try await makeExchange(.post, "/login")
        var notUTF8 = response("Session-Login", Array(#"{"sub":"M"#.utf8) + [0xFC] + Array(#"ller"}"#.utf8))
        #expect(fixture.policy.filterResponse(&notUTF8, exchange: login).isEmpty)
        #expect(notUTF8.headerFields[.sessionLogin] == nil, "removed all the same")
        var utf8 = response("Session-Login", Array(#"{"sub":"Müller"}"#.utf8))
        #expect(fixture.policy.filterResponse(&utf8, exchange: login) == [.login(["sub": "Müller"], replacing: nil)])

        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        var update = response("Session-Update", Array(#"{"name":"Ma"#.utf8) + [0xE4] + Array(#"ller"}"#.utf8))
        #expect(fixture.policy.filterResponse(&update, exchange: exchange).isEmpty)
    }

    @Test(arguments: [400, 401, 403, 404, 500, 502])
    func loginIgnoredOnOtherStatuses(code: Int) async throws {
        let exchange = try await makeExchange(.post, "/login")
        let (effects, response) = filter(
            HTTPResponse.Status(code: code), [("Session-Login", #"{"sub":"alice"}"#)], exchange: exchange)
        #expect(effects.isEmpty, "\(code)")
        #expect(response.headerFields[.sessionLogin] == nil)
    }

    @Test(arguments: ["/public/x", "/optional/login", "/login/", "/private", "/logins"])
    func loginIgnoredOutsideLoginPath(path: String) async throws {
        let exchange = try await makeExchange(.post, path)
        let (effects, _) = filter(.ok, [("Session-Login", #"{"sub":"mallory"}"#)], exchange: exchange)
        #expect(effects.isEmpty, "\(path)")
    }

    @Test(arguments: [
        "not json", "", "{", #"{"sub":"alice""#, #"["sub","alice"]"#, #""alice""#, "null", "{}", #"{"sub":""}"#,
        #"{"sub":42}"#, #"{"sub":null}"#, #"{"sub":["alice"]}"#, #"{"email":"a@example.com"}"#,
        #"{"sub":"alice"} trailing"#,
    ])
    func invalidLoginHasNoEffect(value: String) async throws {
        let exchange = try await makeExchange(.post, "/login")
        let (effects, _) = filter(.ok, [("Session-Login", value)], exchange: exchange)
        #expect(effects.isEmpty, "\(value)")
    }

    @Test func loginReplacesThePresentedSession() async throws {
        let (id, cookie) = try await fixture.login(["sub": "old"])
        let exchange = try await makeExchange(.post, "/login", cookie: cookie)
        let (effects, _) = filter(.ok, [("Session-Login", #"{"sub":"alice"}"#)], exchange: exchange)
        #expect(effects == [.login(["sub": "alice"], replacing: id.key)])
    }

    // MARK: Session-Update and Session-Logout

    @Test func updateWithSession() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, response) = filter(.ok, [("Session-Update", #"{"theme":"dark","old":null}"#)], exchange: exchange)
        #expect(effects == [.update(id.key, patch: ["theme": "dark", "old": .null])])
        #expect(response.headerFields[.sessionUpdate] == nil)
    }

    @Test func updateOnAnOptionalRouteWithSession() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/optional/x", cookie: cookie)
        let (effects, _) = filter(.ok, [("Session-Update", #"{"a":1}"#)], exchange: exchange)
        #expect(effects == [.update(id.key, patch: ["a": 1])])
    }

    @Test(arguments: ["/optional/x", "/public/x", "/private"])
    func updateAndLogoutIgnoredWithoutSession(path: String) async throws {
        let exchange = try await makeExchange(.get, path)
        let (effects, _) = filter(.ok, [("Session-Update", #"{"a":1}"#), ("Session-Logout", "all")], exchange: exchange)
        #expect(effects.isEmpty, "\(path)")
    }

    @Test func updateIgnoredWithAnExpiredSession() async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        fixture.clock.advance(by: .seconds(12 * 3600 + 1))
        let exchange = try await makeExchange(.get, "/optional/x", cookie: cookie)
        #expect(exchange.presentedID != nil)
        #expect(exchange.session == nil)
        let (effects, _) = filter(.ok, [("Session-Update", #"{"a":1}"#)], exchange: exchange)
        #expect(effects.isEmpty)
    }

    @Test(arguments: ["not json", "[1,2]", #""text""#, "42", "null", "{"])
    func invalidUpdateHasNoEffect(value: String) async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, _) = filter(.ok, [("Session-Update", value)], exchange: exchange)
        #expect(effects.isEmpty, "\(value)")
    }

    @Test(arguments: [("current", false), ("Current", false), (" current ", false), ("all", true), ("ALL", true)])
    func logoutValues(value: String, all: Bool) async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, response) = filter(.ok, [("Session-Logout", value)], exchange: exchange)
        #expect(effects == [all ? .logoutAll(subject: "alice") : .logoutCurrent(id.key)], "\(value)")
        #expect(response.headerFields[.sessionLogout] == nil)
    }

    @Test(arguments: ["", "everyone", "current,nope", ",", "1", "true"])
    func invalidLogoutHasNoEffect(value: String) async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, _) = filter(.ok, [("Session-Logout", value)], exchange: exchange)
        #expect(effects.isEmpty, "\(value.debugDescription)")
    }

    @Test func updateAndLogoutTogether() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, _) = filter(.ok, [("Session-Update", #"{"a":1}"#), ("Session-Logout", "current")], exchange: exchange)
        #expect(effects == [.update(id.key, patch: ["a": 1]), .logoutCurrent(id.key)])
    }

    @Test func updateAndLogoutHonouredOnAnyStatus() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, _) = filter(.forbidden, [("Session-Logout", "current")], exchange: exchange)
        #expect(effects == [.logoutCurrent(id.key)])
    }
}
