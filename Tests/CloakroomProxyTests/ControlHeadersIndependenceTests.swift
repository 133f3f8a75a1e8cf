import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Each control header is honoured or refused on its own terms: one that is refused (or
/// invalid) never takes the others in the same response down with it.
@Suite struct ControlHeadersIndependenceTests {
    let fixture = PolicyFixture(
        makeConfiguration(routes: [
            Route(path: "/public/", upstream: "api", auth: .none),
            Route(path: "/", upstream: "api", auth: .required),
        ]))

    func makeExchange(_ method: HTTPRequest.Method = .get, _ path: String, cookie: String? = nil) async throws -> Exchange {
        var request = makeRequest(method, path, headers: cookie.map { [("Cookie", $0)] } ?? [])
        return try await fixture.beginAndLookUp(&request, requestID: "rid-ind")
    }

    func filter(_ headers: [(String, String)], status: HTTPResponse.Status = .ok, exchange: Exchange) -> ([SessionEffect], HTTPResponse) {
        var response = makeResponse(status, headers: headers)
        let effects = fixture.policy.filterResponse(&response, exchange: exchange)
        return (effects, response)
    }

    func apply(_ effects: [SessionEffect], _ exchange: Exchange) async throws -> [String] {
        switch await fixture.policy.apply(effects, exchange: exchange) {
        case .success(let cookies): return cookies
        case .failure(let error): throw error
        }
    }

    /// The reported case: a `Session-Login` outside `login.path` beside `Session-Logout: current`.
    @Test func anIgnoredLoginDoesNotDropTheLogout() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        let (effects, response) = filter([("Session-Login", #"{"sub":"mallory"}"#), ("Session-Logout", "current")], exchange: exchange)
        #expect(effects == [.logoutCurrent(id.key)])
        #expect(response.headerFields[.sessionLogin] == nil && response.headerFields[.sessionLogout] == nil)

        let cookies = try await apply(effects, exchange)
        #expect(cookies.count == 1 && cookieAttributes(ofSetCookie: cookies[0]).contains("Max-Age=0"), "the deletion cookie is sent")
        #expect(try await fixture.store.lookup(key: id.key) == nil, "the session the backend ended is gone")
    }

    @Test(arguments: [
        // Refused by path, by status, by content: the update and the logout still apply.
        ("/private", 200, #"{"sub":"mallory"}"#),
        ("/login", 500, #"{"sub":"mallory"}"#),
        ("/login", 200, "{not json"),
        ("/login", 200, #"{"email":"no-sub@example.com"}"#),
    ])
    func refusedLoginLeavesUpdateAndLogoutAlone(path: String, status: Int, login: String) async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.post, path, cookie: cookie)
        let (effects, _) = filter(
            [("Session-Login", login), ("Session-Update", #"{"theme":"dark"}"#), ("Session-Logout", "all")],
            status: HTTPResponse.Status(code: status), exchange: exchange)
        #expect(effects == [.update(id.key, patch: ["theme": "dark"]), .logoutAll(subject: "alice")], "\(path) \(status) \(login)")
    }

    @Test func anInvalidUpdateDoesNotDropTheLogoutNorTheReverse() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        #expect(filter([("Session-Update", "[1]"), ("Session-Logout", "current")], exchange: exchange).0 == [.logoutCurrent(id.key)])
        #expect(filter([("Session-Update", #"{"a":1}"#), ("Session-Logout", "nope")], exchange: exchange).0 == [.update(id.key, patch: ["a": 1])])
    }

    /// Found by an audit: two `Session-Logout` fields (middleware and handler) were both
    /// dropped, and the session the backend ended stayed valid.
    @Test func twoLogoutFieldsCountAsOne() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        #expect(filter([("Session-Logout", "current"), ("Session-Logout", " Current")], exchange: exchange).0 == [.logoutCurrent(id.key)])
        #expect(filter([("Session-Logout", "current"), ("Session-Logout", "all")], exchange: exchange).0 == [.logoutAll(subject: "alice")])
        #expect(filter([("Session-Logout", "current, nope")], exchange: exchange).0 == [], "a bad value still spoils it")
    }

    /// Found by an audit: a `sub` with CR/LF made a session no `X-User-Id` could ever name.
    @Test(arguments: ["evil\r\nX-User-Roles: admin", "a\u{0}b", "tab\tis\u{7F}"])
    func aLoginWhoseSubCannotBeAHeaderValueIsIgnored(_ sub: String) async throws {
        let exchange = try await makeExchange(.post, "/login")
        let login = JSONValue.object(["sub": .string(sub)]).jsonText
        #expect(filter([("Session-Login", login)], exchange: exchange).0 == [])
        await #expect(throws: SessionStoreError.missingSubject) { _ = try await fixture.store.create(key: SessionID.random().key, attributes: ["sub": .string(sub)]) }
    }

    /// A login refused for want of a session on the request is still judged on its own.
    @Test func aLoginWithoutASessionIsHonouredBesideIgnoredSessionHeaders() async throws {
        let exchange = try await makeExchange(.post, "/login")
        let (effects, _) = filter([("Session-Login", #"{"sub":"alice"}"#), ("Session-Logout", "current")], exchange: exchange)
        #expect(effects == [.login(["sub": "alice"], replacing: nil)])
    }

    /// Both honoured on `login.path`: the presented session ends, and the client keeps the new
    /// login's cookie (one `Set-Cookie`, never a deletion after it).
    @Test func loginAndLogoutTogetherLeaveTheClientWithTheNewSession() async throws {
        let (old, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.post, "/login", cookie: cookie)
        let (effects, _) = filter([("Session-Logout", "current"), ("Session-Login", #"{"sub":"bob"}"#)], exchange: exchange)
        #expect(effects == [.logoutCurrent(old.key), .login(["sub": "bob"], replacing: old.key)])
        let cookies = try await apply(effects, exchange)
        #expect(cookies.count == 1)
        let value = try #require(cookieValue(ofSetCookie: cookies[0]))
        let id = try #require(testCodec.decode(value))
        #expect(try await fixture.store.lookup(key: id.key)?.subject == "bob")
        #expect(try await fixture.store.lookup(key: old.key) == nil)
    }
}

/// Every response that sets or deletes the session cookie is `Cache-Control: no-store`,
/// replacing whatever the backend said: a shared cache must never replay one user's cookie
/// (or another's logout) to someone else.
@Suite struct SessionCookieCachingTests {
    let fixture = PolicyFixture(makeConfiguration(login: { var login = LoginSettings(); login.page = "/signin"; return login }()))

    func exchange(_ method: HTTPRequest.Method = .get, _ path: String, cookie: String? = nil, accept: String? = nil) async throws -> Exchange {
        var headers = cookie.map { [("Cookie", $0)] } ?? []
        if let accept { headers.append(("Accept", accept)) }
        var request = makeRequest(method, path, headers: headers)
        return try await fixture.beginAndLookUp(&request)
    }

    static let cacheable: [(String, String)] = [("Cache-Control", "public, max-age=600"), ("cache-control", "s-maxage=60"), ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")]

    @Test(arguments: [200, 302])
    func sessionLoginResponsesAreNoStore(code: Int) async throws {
        let exchange = try await exchange(.post, "/login")
        var response = makeResponse(HTTPResponse.Status(code: code), headers: Self.cacheable + [("Session-Login", #"{"sub":"alice"}"#)])
        let effects = fixture.policy.filterResponse(&response, exchange: exchange)
        #expect(effects.count == 1)
        #expect(values("Cache-Control", in: response.headerFields) == ["no-store"], "\(code)")
    }

    @Test(arguments: ["current", "all"])
    func sessionLogoutResponsesAreNoStore(value: String) async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await exchange(.get, "/private", cookie: cookie)
        var response = makeResponse(.ok, headers: Self.cacheable + [("Session-Logout", value)])
        _ = fixture.policy.filterResponse(&response, exchange: exchange)
        #expect(values("Cache-Control", in: response.headerFields) == ["no-store"])
    }

    @Test func responsesThatLeaveTheCookieAloneKeepTheBackendsCaching() async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await exchange(.get, "/private", cookie: cookie)
        for control in [[("Session-Update", #"{"a":1}"#)], [("Session-Login", #"{"sub":"x"}"#)], [("Session-Logout", "bogus")], []] {
            var response = makeResponse(.ok, headers: Self.cacheable + control)
            _ = fixture.policy.filterResponse(&response, exchange: exchange)
            #expect(values("Cache-Control", in: response.headerFields) == ["public, max-age=600", "s-maxage=60"], "\(control)")
        }
    }

    @Test(arguments: ["application/json", "text/html"])
    func theLogoutEndpointIsNoStore(accept: String) async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await exchange(.post, "/logout", cookie: cookie, accept: accept)
        let response = await fixture.policy.logout(exchange)
        #expect(response.head.headerFields[.setCookie] != nil)
        #expect(values("Cache-Control", in: response.head.headerFields) == ["no-store"])
    }

    /// A correctly signed cookie whose session is gone: 401 (or 303 for a browser) with the
    /// deletion cookie, uncacheable.
    @Test(arguments: [("application/json", 401), ("text/html", 303)])
    func aDeadSessionCookieIsDeletedOnTheAnswer(accept: String, status: Int) async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        #expect(try await fixture.store.revoke(key: id.key))
        let exchange = try await exchange(.get, "/private", cookie: cookie, accept: accept)
        #expect(exchange.presentedID != nil && exchange.session == nil)
        guard case .respond(let response) = fixture.policy.authorize(exchange) else {
            Issue.record("expected a local answer")
            return
        }
        #expect(response.head.status.code == status)
        let setCookie = try #require(response.head.headerFields[.setCookie])
        #expect(setCookie.hasPrefix("cloakroom_session=;") && cookieAttributes(ofSetCookie: setCookie).contains("Max-Age=0"))
        #expect(values("Cache-Control", in: response.head.headerFields) == ["no-store"])
    }

    /// Without a cookie there is nothing to delete.
    @Test func noCookieNoDeletion() async throws {
        let exchange = try await exchange(.get, "/private")
        guard case .respond(let response) = fixture.policy.authorize(exchange) else {
            Issue.record("expected a local answer")
            return
        }
        #expect(response.head.status == .unauthorized)
        #expect(response.head.headerFields[.setCookie] == nil)
    }
}
