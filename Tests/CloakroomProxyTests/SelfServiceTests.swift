import CloakroomConfig
@testable import CloakroomProxy
import CloakroomSessions
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// The self-service page as policy: which requests it answers, for whom, and what it ends.
@Suite struct SelfServiceTests {
    static let page = "/.cloakroom/sessions"

    static func fixture(_ adjust: (inout Configuration) -> Void = { _ in }) -> PolicyFixture {
        var configuration = makeConfiguration()
        configuration.session.selfService = page
        adjust(&configuration)
        return PolicyFixture(configuration)
    }

    /// Runs the phases for `method path` with `cookie` and returns the local answer.
    static func answer(
        _ fixture: PolicyFixture, _ method: HTTPRequest.Method, _ path: String, cookie: String?, html: Bool = false,
        headers: [(String, String)] = []
    ) async throws -> LocalResponse {
        var fields = headers
        if let cookie { fields.append(("Cookie", cookie)) }
        if html { fields.append(("Accept", "text/html,application/xhtml+xml")) }
        var request = makeRequest(method, path, headers: fields)
        let exchange = try await fixture.beginAndLookUp(&request)
        #expect(exchange.endpoint == .selfService)
        switch fixture.policy.authorize(exchange) {
        case .respond(let response): return response
        case .selfService: return await fixture.policy.selfService(exchange)
        default:
            Issue.record("unexpected authorization for \(method) \(path)")
            return ProxyError(.internalError).response(requestID: "x")
        }
    }

    @Test func recognisesThePageAndWhatIsUnderItOnly() throws {
        let fixture = Self.fixture()
        for path in [Self.page, Self.page + "/", Self.page + "/AAAAAAAAAAAAAAAA/end", Self.page + "/end-others"] {
            var request = makeRequest(.get, path)
            #expect(try fixture.begin(&request).endpoint == .selfService, "\(path)")
            #expect(try fixture.begin(&request).route == nil, "answered by the proxy, never routed")
        }
        for path in ["/.cloakroom/sessionsX", "/.cloakroom", "/other"] {
            var request = makeRequest(.get, path)
            #expect(try fixture.begin(&request).endpoint == .proxied, "\(path)")
        }
    }

    @Test func parsesEachRequestAndRefusesOtherMethodsAndPaths() throws {
        func parse(_ method: HTTPRequest.Method, _ path: String) -> Result<SelfServiceRequest, ProxyError> {
            SelfServiceRequest.parse(page: Self.page, path: path, method: method)
        }
        #expect(try parse(.get, Self.page).get() == .list)
        #expect(try parse(.head, Self.page + "/").get() == .list)
        #expect(try parse(.post, Self.page + "/h1/end").get() == .end(handle: "h1"))
        #expect(try parse(.delete, Self.page + "/h1").get() == .end(handle: "h1"))
        #expect(try parse(.post, Self.page + "/end-others").get() == .endOthers)
        #expect(parse(.post, Self.page).failureCode == .methodNotAllowed)
        #expect(parse(.get, Self.page + "/h1/end").failureCode == .methodNotAllowed)
        #expect(parse(.get, Self.page + "/end-others").failureCode == .methodNotAllowed)
        #expect(parse(.get, Self.page + "/h1/other").failureCode == .notFound)
        #expect(parse(.post, Self.page + "//end").failureCode == .notFound)
    }

    @Test func withoutASessionItIsARequiredRoute() async throws {
        let api = try await Self.answer(Self.fixture(), .get, Self.page, cookie: nil)
        #expect(api.head.status == .unauthorized)
        #expect(String(decoding: api.body, as: UTF8.self) == "{\"error\":\"unauthenticated\"}")
        let withLoginPage = Self.fixture { $0.login.page = "/signin" }
        let browser = try await Self.answer(withLoginPage, .get, Self.page, cookie: nil, html: true)
        #expect(browser.head.status == .seeOther)
        #expect(browser.head.headerFields[.location] == "/signin?next=/.cloakroom/sessions")
        let post = try await Self.answer(withLoginPage, .post, Self.page + "/end-others", cookie: nil, html: true)
        #expect(post.head.status == .unauthorized)
    }

    @Test func listsOnlyTheUsersOwnSessionsWithTheCurrentMarked() async throws {
        let fixture = Self.fixture()
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let phone = SessionOrigin(client: "198.51.100.7", userAgent: "Mozilla/5.0 (iPhone) Safari/604.1")
        let other = try await fixture.store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: phone, maxPerUser: 0)
        _ = try await fixture.login(["sub": "bob"])
        let current = try #require(try await fixture.store.lookup(key: id.key))

        let response = try await Self.answer(fixture, .get, Self.page, cookie: cookie)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "application/json")
        guard case .object(let body) = try json(response.body), case .array(let sessions)? = body["sessions"] else {
            Issue.record("not a session list")
            return
        }
        #expect(sessions.count == 2)
        let byHandle = Dictionary(uniqueKeysWithValues: sessions.compactMap { item -> (String, JSONObject)? in
            guard case .object(let object) = item, case .string(let handle)? = object["handle"] else { return nil }
            return (handle, object)
        })
        #expect(byHandle[current.handle]?["current"] == .bool(true))
        #expect(byHandle[other.handle]?["current"] == .bool(false))
        #expect(byHandle[other.handle]?["client"] == "198.51.100.7")
        #expect(byHandle[other.handle]?["user_agent"] == "Mozilla/5.0 (iPhone) Safari/604.1")
        #expect(Set(byHandle[other.handle]?.keys.map { $0 } ?? []) == [
            "handle", "created_at", "last_seen_at", "expires_at", "client", "user_agent", "current",
        ])
    }

    @Test func thePageIsSelfContainedAndEscapesWhatClientsSent() async throws {
        let fixture = Self.fixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let hostile = SessionOrigin(client: "203.0.113.1", userAgent: "<script>alert(1)</script> Firefox/128.0 (Windows NT 10.0)")
        let other = try await fixture.store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: hostile, maxPerUser: 0)
        let response = try await Self.answer(fixture, .get, Self.page, cookie: cookie, html: true)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "text/html; charset=utf-8")
        let csp = try #require(response.head.headerFields[HTTPField.Name("Content-Security-Policy")!])
        #expect(csp.contains("default-src 'none'") && csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"))
        let html = String(decoding: response.body, as: UTF8.self)
        #expect(!html.contains("<script"), "no script, and the user agent is escaped")
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("This device"))
        #expect(html.contains("Firefox on Windows"))
        #expect(html.contains(#"<form method="post" action="/.cloakroom/sessions/\#(other.handle)/end">"#))
        #expect(html.contains(#"action="/.cloakroom/sessions/end-others""#))
        #expect(html.contains("Sign out everywhere else"))
    }

    @Test func endsOneOfTheUsersSessionsButNeverAnotherUsers() async throws {
        let fixture = Self.fixture()
        let audit = Recorded()
        fixture.store.observeAudit { audit.append($0) }
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let otherKey = SessionID.random().key
        let other = try await fixture.store.create(key: otherKey, attributes: ["sub": "alice"])
        let bobKey = SessionID.random().key
        let bob = try await fixture.store.create(key: bobKey, attributes: ["sub": "bob"])

        let refused = try await Self.answer(fixture, .delete, Self.page + "/" + bob.handle, cookie: cookie)
        #expect(refused.head.status == .notFound)
        #expect(try await fixture.store.lookup(key: bobKey) != nil, "another user's session is untouched")
        let unknown = try await Self.answer(fixture, .post, Self.page + "/AAAAAAAAAAAAAAAA/end", cookie: cookie)
        #expect(unknown.head.status == .notFound)

        let ended = try await Self.answer(fixture, .post, Self.page + "/" + other.handle + "/end", cookie: cookie)
        #expect(ended.head.status == .noContent)
        #expect(ended.head.headerFields[.setCookie] == nil, "not the current session: the cookie stays")
        #expect(try await fixture.store.lookup(key: otherKey) == nil)
        #expect(audit.reasons == [.selfService])
        #expect(audit.requestIDs == ["req-1"])

        let browser = try await Self.answer(fixture, .delete, Self.page + "/" + other.handle, cookie: cookie, html: true)
        #expect(browser.head.status == .notFound, "already ended")
    }

    @Test func endingTheCurrentSessionIsALogoutWithTheDeletionCookie() async throws {
        let fixture = Self.fixture()
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let handle = try #require(try await fixture.store.lookup(key: id.key)).handle
        let response = try await Self.answer(fixture, .post, Self.page + "/" + handle + "/end", cookie: cookie, html: true)
        #expect(response.head.status == .seeOther)
        #expect(response.head.headerFields[.location] == Self.page)
        let setCookie = try #require(response.head.headerFields[.setCookie])
        #expect(setCookie.hasPrefix("cloakroom_session=;") && setCookie.contains("Max-Age=0"))
        #expect(try await fixture.store.lookup(key: id.key) == nil)
    }

    @Test func endOthersKeepsOnlyTheCurrentSession() async throws {
        let fixture = Self.fixture()
        let audit = Recorded()
        fixture.store.observeAudit { audit.append($0) }
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        for _ in 0..<3 { _ = try await fixture.login(["sub": "alice"]) }
        _ = try await fixture.login(["sub": "bob"])
        let response = try await Self.answer(fixture, .post, Self.page + "/end-others", cookie: cookie, html: true)
        #expect(response.head.status == .seeOther)
        #expect(response.head.headerFields[.location] == Self.page)
        let alice = try await fixture.store.sessions(subject: "alice")
        #expect(alice.count == 1)
        #expect(try await fixture.store.lookup(key: id.key) != nil)
        #expect(try await fixture.store.sessions(subject: "bob").count == 1)
        #expect(audit.reasons == [.selfService, .selfService, .selfService])
        let api = try await Self.answer(fixture, .post, Self.page + "/end-others", cookie: cookie)
        #expect(api.head.status == .noContent)
    }

    @Test func crossSitePostsAreRefused() async throws {
        let fixture = Self.fixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let forged = try await Self.answer(
            fixture, .post, Self.page + "/end-others", cookie: cookie, headers: [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")])
        #expect(forged.head.status == .forbidden)
        #expect(String(decoding: forged.body, as: UTF8.self) == "{\"error\":\"csrf\"}")
        let unknown = try await Self.answer(fixture, .post, Self.page + "/end-others", cookie: nil, headers: [("Origin", "null")])
        #expect(unknown.head.status == .forbidden, "every self-service POST is checked, cookie or not")
    }

    @Test func userAgentSummaries() {
        #expect(UserAgentSummary.describe("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0") == "Firefox on Linux")
        #expect(UserAgentSummary.describe(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0") == "Edge on Windows")
        #expect(UserAgentSummary.describe(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
            == "Safari on iPhone")
        #expect(UserAgentSummary.describe("curl/8.5.0") == "curl")
        #expect(UserAgentSummary.describe("") == "Unknown device")
    }
}

/// Session governance in the other phases: where sessions come from, and why they end.
@Suite struct GovernancePhaseTests {
    @Test func loginEndpointsReadTheUserAgentOthersDoNot() throws {
        var configuration = makeConfiguration()
        configuration.session.maxPerUser = 3
        let fixture = PolicyFixture(configuration)
        var login = makeRequest(.get, "/login?sub=alice", headers: [("User-Agent", "curl/8.5.0")])
        let exchange = try fixture.begin(&login)
        #expect(exchange.userAgent == "curl/8.5.0")
        #expect(exchange.sessionOrigin == SessionOrigin(client: "192.0.2.10", userAgent: "curl/8.5.0"))
        let context = fixture.policy.sessionContext(for: exchange)
        #expect(context.maxPerUser == 3 && context.requestID == "req-1" && context.endReason == .login)
        var proxied = makeRequest(.get, "/api", headers: [("User-Agent", "curl/8.5.0")])
        #expect(try fixture.begin(&proxied).userAgent == nil)
    }

    @Test func endReasonsFollowTheEndpoint() {
        #expect(ProxyPolicy.endReason(of: .logout) == .logout)
        #expect(ProxyPolicy.endReason(of: .builtinLogin) == .login)
        #expect(ProxyPolicy.endReason(of: .signOnCallback) == .login)
        #expect(ProxyPolicy.endReason(of: .backchannelLogout) == .idp)
        #expect(ProxyPolicy.endReason(of: .proxied) == .refreshFailed)
        #expect(ProxyPolicy.endReason(of: .selfService) == .selfService)
    }

    /// `Session-Logout` is `backend` either way; a login's replaced session is `login`; the new
    /// session records the request's origin and obeys the limit.
    @Test func controlHeaderEffectsNameTheirReasons() async throws {
        var configuration = makeConfiguration()
        configuration.session.maxPerUser = 1
        let fixture = PolicyFixture(configuration)
        let audit = Recorded()
        fixture.store.observeAudit { audit.append($0) }
        let (first, _) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/login", headers: [("User-Agent", "Firefox/128.0")])
        var exchange = try fixture.begin(&request)
        exchange.presentedID = first
        _ = await fixture.policy.apply([.login(["sub": "alice"], replacing: first.key)], exchange: exchange)
        #expect(audit.reasons == [.login])
        let created = try await fixture.store.sessions(subject: "alice")
        #expect(created.map(\.origin) == [SessionOrigin(client: "192.0.2.10", userAgent: "Firefox/128.0")])
        let (second, _) = try await fixture.login(["sub": "bob"])
        _ = await fixture.policy.apply([.logoutCurrent(second.key)], exchange: exchange)
        _ = try await fixture.login(["sub": "carol"])
        _ = await fixture.policy.apply([.logoutAll(subject: "carol")], exchange: exchange)
        #expect(audit.reasons == [.login, .backend, .backend])
    }

    @Test func adminAPIRecordsItsClientAndShowsOrigins() async throws {
        let fixture = PolicyFixture()
        let audit = Recorded()
        fixture.store.observeAudit { audit.append($0) }
        let api = AdminAPI(
            store: fixture.store, token: String(repeating: "t", count: 32), cookies: fixture.policy.cookies, logger: silentLogger,
            metrics: { "" }, maxPerUser: 1)
        let bearer = "Bearer " + String(repeating: "t", count: 32)
        func create() async -> AdminAPI.Response {
            await api.handle(AdminAPI.Request(
                method: .post, target: "/sessions", authorization: bearer, body: Array(#"{"attributes":{"sub":"erin"}}"#.utf8),
                client: "127.0.0.1", userAgent: "cloakroom-cli", requestID: "admin-1"))
        }
        #expect(await create().status == .created)
        #expect(await create().status == .created)
        let list = await api.handle(AdminAPI.Request(method: .get, target: "/sessions?user=erin", authorization: bearer))
        #expect(list.body.contains(#""client":"127.0.0.1""#) && list.body.contains(#""user_agent":"cloakroom-cli""#), "\(list.body)")
        #expect(try await fixture.store.sessions(subject: "erin").count == 1, "max_per_user applies to admin logins")
        #expect(audit.reasons == [.limit])
        #expect(audit.requestIDs == ["admin-1"])
        let revoke = await api.handle(AdminAPI.Request(method: .delete, target: "/users/erin/sessions", authorization: bearer, requestID: "admin-2"))
        #expect(revoke.status == .ok)
        #expect(audit.reasons == [.limit, .admin])
        #expect(audit.requestIDs == ["admin-1", "admin-2"])
    }
}

/// The endings a store reported, with the reason and request ID of the context they happened in.
final class Recorded: Sendable {
    private let entries = Mutex<[(reason: SessionEndReason?, requestID: String?)]>([])

    func append(_ events: [SessionAuditEvent]) {
        let context = SessionRequestContext.current
        let endings = events.filter { $0.kind != .created }.map { ($0.reason(in: context), context?.requestID) }
        entries.withLock { $0 += endings }
    }

    var reasons: [SessionEndReason?] { entries.withLock { $0.map(\.reason) } }
    var requestIDs: [String?] { entries.withLock { $0.map(\.requestID) } }
}

extension Result where Failure == ProxyError {
    var failureCode: ProxyError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
