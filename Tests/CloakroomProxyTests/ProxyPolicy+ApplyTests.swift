import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Phase 6: session effects carried out on a real memory store, and whole exchanges through
/// every phase.
@Suite struct ProxyPolicyApplyTests {
    let fixture = PolicyFixture()

    func makeExchange(
        _ method: HTTPRequest.Method = .get, _ path: String, cookie: String? = nil, client: ClientInfo = plainClient
    ) async throws -> Exchange {
        var request = makeRequest(method, path, headers: cookie.map { [("Cookie", $0)] } ?? [])
        return try await fixture.beginAndLookUp(&request, client: client)
    }

    func apply(_ effects: [SessionEffect], _ exchange: Exchange, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        switch await fixture.policy.apply(effects, exchange: exchange) {
        case .success(let cookies): return cookies
        case .failure(let error):
            Issue.record("apply failed: \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// The live session a `Set-Cookie` line's value leads to.
    func session(fromSetCookie line: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Session? {
        let value = try #require(cookieValue(ofSetCookie: line), sourceLocation: sourceLocation)
        let id = try #require(testCodec.decode(value), "Set-Cookie value does not decode", sourceLocation: sourceLocation)
        return try await fixture.store.lookup(key: id.key)
    }

    // MARK: login

    @Test func loginCreatesASessionAndSetsItsCookie() async throws {
        let exchange = try await makeExchange(.post, "/login")
        let cookies = try await apply([.login(["sub": "alice", "email": "a@example.com"], replacing: nil)], exchange)
        #expect(cookies.count == 1)
        let line = try #require(cookies.first)
        #expect(line.hasPrefix("cloakroom_session="))
        let attributes = cookieAttributes(ofSetCookie: line)
        #expect(attributes.contains("HttpOnly"))
        #expect(!attributes.contains("Secure"), "secure: auto on a plain listener")
        #expect(!attributes.contains("Max-Age=0"))
        let session = try #require(try await session(fromSetCookie: line))
        #expect(session.attributes == ["sub": "alice", "email": "a@example.com"])
        #expect(fixture.store.count == 1)
    }

    @Test func loginOnTLSSetsASecureCookie() async throws {
        let exchange = try await makeExchange(.post, "/login", client: tlsClient)
        let cookies = try await apply([.login(["sub": "alice"], replacing: nil)], exchange)
        #expect(cookieAttributes(ofSetCookie: cookies.first ?? "").contains("Secure"))
    }

    @Test func loginEndsThePresentedSession() async throws {
        let (oldID, oldCookie) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.post, "/login", cookie: oldCookie)
        var response = makeResponse(.ok, headers: [("Session-Login", #"{"sub":"alice"}"#)])
        let effects = fixture.policy.filterResponse(&response, exchange: exchange)
        let cookies = try await apply(effects, exchange)

        #expect(try await fixture.store.lookup(key: oldID.key) == nil, "the presented session must end (fixation)")
        let line = try #require(cookies.first)
        let newValue = try #require(cookieValue(ofSetCookie: line))
        let newID = try #require(testCodec.decode(newValue))
        #expect(newID != oldID, "login always issues a new ID")
        #expect(try await fixture.store.lookup(key: newID.key)?.subject == "alice")
        #expect(fixture.store.count == 1)
    }

    @Test func eachLoginIssuesADifferentID() async throws {
        let exchange = try await makeExchange(.post, "/login")
        let first = try await apply([.login(["sub": "alice"], replacing: nil)], exchange)
        let second = try await apply([.login(["sub": "alice"], replacing: nil)], exchange)
        #expect(cookieValue(ofSetCookie: first[0]) != cookieValue(ofSetCookie: second[0]))
        #expect(try await fixture.store.sessions(subject: "alice").count == 2)
    }

    @Test func loginWhenTheStoreIsDownFailsWith503() async throws {
        let policy = ProxyPolicy(
            configuration: makeConfiguration(), store: UnavailableStore(), codec: testCodec, logger: silentLogger)
        var request = makeRequest(.post, "/login")
        guard case .success(let exchange) = policy.begin(&request, client: plainClient, requestID: "r") else {
            Issue.record("begin failed")
            return
        }
        let result = await policy.apply([.login(["sub": "alice"], replacing: nil)], exchange: exchange)
        guard case .failure(let error) = result else {
            Issue.record("a login the store did not keep must not set a cookie")
            return
        }
        #expect(error.code == .storeUnavailable)
        #expect(error.status == .serviceUnavailable)
    }

    // MARK: update

    @Test func updateIsVisibleInTheStore() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice", "theme": "light", "old": 1])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        var response = makeResponse(.ok, headers: [("Session-Update", #"{"theme":"dark","old":null,"n":{"a":1}}"#)])
        let cookies = try await apply(fixture.policy.filterResponse(&response, exchange: exchange), exchange)
        #expect(cookies.isEmpty, "an update keeps the same cookie")
        let session = try #require(try await fixture.store.lookup(key: id.key))
        #expect(session.attributes == ["sub": "alice", "theme": "dark", "n": ["a": 1]])
    }

    @Test func updateCannotChangeSub() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice", "role": "user"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        var response = makeResponse(.ok, headers: [("Session-Update", #"{"sub":"mallory","role":"admin"}"#)])
        let effects = fixture.policy.filterResponse(&response, exchange: exchange)
        let cookies = try await apply(effects, exchange)
        #expect(cookies.isEmpty)
        let session = try #require(try await fixture.store.lookup(key: id.key))
        #expect(session.attributes == ["sub": "alice", "role": "user"], "a rejected patch changes nothing")
    }

    @Test func updatedIdentityReachesTheNextRequest() async throws {
        let (_, cookie) = try await fixture.login(["sub": "alice", "roles": ["reader"]])
        let first = try await makeExchange(.get, "/private", cookie: cookie)
        var response = makeResponse(.ok, headers: [("Session-Update", #"{"roles":["reader","admin"]}"#)])
        _ = try await apply(fixture.policy.filterResponse(&response, exchange: first), first)

        var request = makeRequest(.get, "/private", headers: [("Cookie", cookie)])
        let second = try await fixture.beginAndLookUp(&request)
        fixture.policy.prepareUpstreamRequest(&request, exchange: second)
        #expect(values("X-User-Roles", in: request.headerFields) == ["reader, admin"])
    }

    // MARK: logout

    @Test func logoutCurrentEndsOnlyThisSession() async throws {
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let (otherID, _) = try await fixture.login(["sub": "alice"])
        let exchange = try await makeExchange(.get, "/private", cookie: cookie)
        var response = makeResponse(.ok, headers: [("Session-Logout", "current")])
        let cookies = try await apply(fixture.policy.filterResponse(&response, exchange: exchange), exchange)
        #expect(cookies.count == 1)
        #expect(cookieAttributes(ofSetCookie: cookies[0]).contains("Max-Age=0"))
        #expect(try await fixture.store.lookup(key: id.key) == nil)
        #expect(try await fixture.store.lookup(key: otherID.key) != nil)
    }

    @Test func logoutAllEndsEverySessionOfThatSubOnly() async throws {
        let (_, aliceCookie) = try await fixture.login(["sub": "alice"])
        let (aliceOther, _) = try await fixture.login(["sub": "alice"])
        let (bob, _) = try await fixture.login(["sub": "bob"])
        let exchange = try await makeExchange(.get, "/private", cookie: aliceCookie)
        var response = makeResponse(.ok, headers: [("Session-Logout", "all")])
        let cookies = try await apply(fixture.policy.filterResponse(&response, exchange: exchange), exchange)
        #expect(cookies.count == 1)
        #expect(cookieAttributes(ofSetCookie: cookies[0]).contains("Max-Age=0"))
        #expect(try await fixture.store.sessions(subject: "alice").isEmpty)
        #expect(try await fixture.store.lookup(key: aliceOther.key) == nil)
        #expect(try await fixture.store.lookup(key: bob.key)?.subject == "bob")
    }

    @Test func noEffectsNoCookies() async throws {
        let exchange = try await makeExchange(.get, "/public/x")
        #expect(try await apply([], exchange).isEmpty)
    }

    // MARK: whole exchanges

    @Test func loginThenIdentityThenLogout() async throws {
        // 1. Delegated login: the backend answers /login with Session-Login.
        var loginRequest = makeRequest(.post, "/login", headers: [("X-User-Id", "mallory")])
        let loginExchange = try await fixture.beginAndLookUp(&loginRequest)
        guard case .forward = fixture.policy.authorize(loginExchange) else {
            Issue.record("login.path not forwarded")
            return
        }
        fixture.policy.prepareUpstreamRequest(&loginRequest, exchange: loginExchange)
        #expect(values("X-User-Id", in: loginRequest.headerFields).isEmpty)
        var loginResponse = makeResponse(
            .ok, headers: [("Session-Login", #"{"sub":"alice","email":"alice@example.com","roles":["reader","writer"]}"#)])
        let setCookies = try await apply(fixture.policy.filterResponse(&loginResponse, exchange: loginExchange), loginExchange)
        #expect(loginResponse.headerFields[.sessionLogin] == nil)
        let line = try #require(setCookies.first)
        let value = try #require(cookieValue(ofSetCookie: line))
        let cookie = "cloakroom_session=\(value)"

        // 2. The browser comes back with the cookie: the backend sees alice, not the cookie.
        var request = makeRequest(
            .get, "/api/me", headers: [("Cookie", "theme=dark; \(cookie)"), ("X-User-Id", "mallory")])
        let exchange = try await fixture.beginAndLookUp(&request)
        guard case .forward = fixture.policy.authorize(exchange) else {
            Issue.record("a logged-in request was not forwarded")
            return
        }
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        #expect(values("X-User-Id", in: request.headerFields) == ["alice"])
        #expect(values("X-User-Email", in: request.headerFields) == ["alice@example.com"])
        #expect(values("X-User-Roles", in: request.headerFields) == ["reader, writer"])
        #expect(request.headerFields[.cookie] == "theme=dark")

        // 3. The backend logs the user out everywhere; the same cookie no longer works.
        var response = makeResponse(.ok, headers: [("Session-Logout", "all")])
        _ = try await apply(fixture.policy.filterResponse(&response, exchange: exchange), exchange)
        var again = makeRequest(.get, "/api/me", headers: [("Cookie", cookie)])
        let afterLogout = try await fixture.beginAndLookUp(&again)
        guard case .respond(let denied) = fixture.policy.authorize(afterLogout) else {
            Issue.record("a logged-out cookie still works")
            return
        }
        #expect(denied.head.status == .unauthorized)
    }

    @Test func controlHeadersOnANonLoginRouteCannotLogSomeoneIn() async throws {
        let exchange = try await makeExchange(.get, "/public/x")
        var response = makeResponse(.ok, headers: [("Session-Login", #"{"sub":"admin"}"#)])
        let cookies = try await apply(fixture.policy.filterResponse(&response, exchange: exchange), exchange)
        #expect(cookies.isEmpty)
        #expect(fixture.store.count == 0)
    }
}
