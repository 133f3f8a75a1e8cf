import CloakroomStoreConformance
import Foundation
import Testing

/// The audit log, read back from the real binary's standard output: every reason the SPEC
/// lists, each produced by a real action (a logout, an admin call, a backend's header, a login,
/// time passing, the memory store filling up, a login beyond the limit, the self-service page,
/// the identity provider), each line with the session's handle, user and client, the request
/// that caused it, and nothing secret.
@Suite(.serialized)
struct AuditLogTests {
    static let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]

    /// Every audit line written so far (waiting up to three seconds for `until` to hold:
    /// lines are flushed every second).
    static func lines(_ proxy: BinaryHarness, until done: ([[String: Any]]) -> Bool = { _ in true }) async throws -> [[String: Any]] {
        var lines: [[String: Any]] = []
        for _ in 0..<30 {
            let text = (try? String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            if done(lines.filter { $0["msg"] as? String == "session" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return lines
    }

    static func audit(_ lines: [[String: Any]]) -> [[String: Any]] {
        lines.filter { $0["msg"] as? String == "session" }
    }

    /// The handle of `sub`'s newest session, from the admin API.
    static func handles(_ proxy: BinaryHarness, _ sub: String) async throws -> [String] {
        let listed = try await Curl.get("\(proxy.admin)/sessions?user=\(sub)", auth)
        let object = try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any]
        return (object?["sessions"] as? [[String: Any]] ?? []).compactMap { $0["handle"] as? String }
    }

    static func value(ofCookie pair: String) -> String { String(pair.split(separator: "=", maxSplits: 1).last ?? "") }

    /// The ending line of `handle`, if any.
    static func ending(_ lines: [[String: Any]], _ handle: String) -> [String: Any]? {
        audit(lines).first { $0["event"] as? String == "ended" && $0["handle"] as? String == handle }
    }

    @Test func everyReasonARequestCausesIsOneLineWithItsRequest() async throws {
        let proxy = try await BinaryHarness(session: "max_per_user: 2\nself_service: /.cloakroom/sessions")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        var cookies: [String] = []
        func login(_ sub: String, agent: String = "audit-test/1.0", presenting cookie: String? = nil) async throws -> (cookie: String, requestID: String) {
            var arguments = ["-A", agent]
            if let cookie { arguments += ["-H", "Cookie: \(cookie)"] }
            let response = try await Curl.get("\(proxy.base)/login?sub=\(sub)", arguments)
            let pair = try #require(response.header("set-cookie")?.split(separator: ";").first.map(String.init))
            cookies.append(pair)
            return (pair, try #require(response.header("x-request-id")))
        }
        var expected: [(handle: String, reason: String, requestID: String?)] = []

        // logout
        let (alice, aliceLogin) = try await login("alice")
        let aliceHandle = try #require(try await Self.handles(proxy, "alice").first)
        let out = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(alice)", "-H", "X-Request-Id: logout-request-1"])
        #expect(out.status == 204)
        expected.append((aliceHandle, "logout", "logout-request-1"))
        // admin
        _ = try await login("bob")
        let bobHandle = try #require(try await Self.handles(proxy, "bob").first)
        let revoke = try await Curl.get("\(proxy.admin)/sessions/\(bobHandle)", Self.auth + ["-X", "DELETE", "-H", "X-Request-Id: admin-request-1"])
        #expect(revoke.status == 204)
        expected.append((bobHandle, "admin", "admin-request-1"))
        // backend, both ways
        let (carol, _) = try await login("carol")
        let carolHandle = try #require(try await Self.handles(proxy, "carol").first)
        let current = try await Curl.get("\(proxy.base)/api/logout-current", ["-H", "Cookie: \(carol)"])
        expected.append((carolHandle, "backend", try #require(current.header("x-request-id"))))
        let (carolAgain, _) = try await login("carol")
        let carolAgainHandle = try #require(try await Self.handles(proxy, "carol").first)
        let all = try await Curl.get("\(proxy.base)/api/logout-all", ["-H", "Cookie: \(carolAgain)"])
        expected.append((carolAgainHandle, "backend", try #require(all.header("x-request-id"))))
        // login (a session presented at login is replaced)
        let (dave, _) = try await login("dave")
        let daveHandle = try #require(try await Self.handles(proxy, "dave").first)
        let (_, daveRelogin) = try await login("dave", presenting: dave)
        expected.append((daveHandle, "login", daveRelogin))
        #expect(try await proxy.status(dave) == 401)
        // limit: a third login of erin with max_per_user 2 ends her least recently used
        let (erin1, _) = try await login("erin", agent: "first-browser")
        let erinFirst = try #require(try await Self.handles(proxy, "erin").first)
        try await Task.sleep(for: .milliseconds(20))
        _ = try await login("erin", agent: "second-browser")
        let (_, erinThird) = try await login("erin", agent: "third-browser")
        expected.append((erinFirst, "limit", erinThird))
        #expect(try await proxy.status(erin1) == 401, "the ended session's cookie gets 401")
        #expect(try await Self.handles(proxy, "erin").count == 2)
        // self
        let (frank, _) = try await login("frank")
        _ = try await login("frank")
        let frankHandles = try await Self.handles(proxy, "frank")
        let frankCurrent = try await Curl.get("\(proxy.base)/.cloakroom/sessions", ["-H", "Cookie: \(frank)"])
        let listed = try JSONSerialization.jsonObject(with: Data(frankCurrent.body.utf8)) as? [String: Any]
        let other = try #require((listed?["sessions"] as? [[String: Any]])?.first { $0["current"] as? Bool == false }?["handle"] as? String)
        #expect(frankHandles.contains(other))
        let ended = try await Curl.get("\(proxy.base)/.cloakroom/sessions/\(other)", ["-X", "DELETE", "-H", "Cookie: \(frank)"])
        #expect(ended.status == 204)
        expected.append((other, "self", try #require(ended.header("x-request-id"))))

        let lines = try await Self.lines(proxy) { audit in expected.allSatisfy { want in
            audit.contains { $0["handle"] as? String == want.handle && $0["reason"] as? String == want.reason }
        } }
        let audit = Self.audit(lines)
        for want in expected {
            let line = try #require(Self.ending(lines, want.handle), "no ending line for \(want.reason)")
            #expect(line["reason"] as? String == want.reason, "\(line)")
            #expect(line["request_id"] as? String == want.requestID, "\(want.reason): \(line)")
            #expect(line["client"] as? String == "127.0.0.1", "the session's client: \(line)")
            #expect((line["sub"] as? String)?.isEmpty == false)
        }
        // One created line per login, with the login's request ID.
        let created = audit.filter { $0["event"] as? String == "created" }
        #expect(created.count == cookies.count)
        #expect(created.contains { $0["request_id"] as? String == aliceLogin && $0["handle"] as? String == aliceHandle && $0["sub"] as? String == "alice" })
        // Exactly one line per ending, and the shape of every line.
        let endedHandles = audit.filter { $0["event"] as? String == "ended" }.compactMap { $0["handle"] as? String }
        #expect(endedHandles.count == Set(endedHandles).count, "one line per ending: \(endedHandles)")
        let time = try Regex(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#)
        for line in audit {
            #expect((line["time"] as? String)?.wholeMatch(of: time) != nil, "\(line)")
            #expect(Set(line.keys).isSubset(of: ["time", "level", "msg", "event", "reason", "handle", "sub", "client", "request_id"]), "\(line)")
        }
        // Never an ID, a cookie or a token.
        let text = try String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)
        for cookie in cookies {
            let value = Self.value(ofCookie: cookie)
            #expect(!text.contains(value))
            #expect(!text.contains(String(value.prefix { $0 != "." })), "not even the ID half of the cookie")
        }
        #expect(lines.contains { $0["msg"] as? String == "request" }, "the access log is beside it")
        // The metrics count the same endings by the same reasons.
        let metrics = try await Curl.get("\(proxy.admin)/metrics", Self.auth).body
        for (reason, count) in ["logout": 1, "admin": 1, "backend": 2, "login": 1, "limit": 1, "self": 1] {
            #expect(metrics.contains("cloakroom_sessions_ended_total{reason=\"\(reason)\"} \(count)\n"), "\(reason)")
        }
    }

    /// The memory store filling up (evicted): the login that pushed a session out, or the admin
    /// API's `POST /sessions`, is named by its request ID, as on the new session's `created` line.
    @Test func anEvictionCarriesTheRequestThatCausedIt() async throws {
        let proxy = try await BinaryHarness(store: "memory: { max_sessions: 2 }")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let first = try await proxy.login("ann")
        let annHandle = try #require(try await Self.handles(proxy, "ann").first)
        _ = try await proxy.login("ben")
        let benHandle = try #require(try await Self.handles(proxy, "ben").first)
        let third = try await Curl.get("\(proxy.base)/login?sub=cat")
        let login = try #require(third.header("x-request-id"))
        let catHandle = try #require(try await Self.handles(proxy, "cat").first)
        #expect(try await proxy.status(first) == 401)
        let created = try await Curl.get(
            "\(proxy.admin)/sessions", Self.auth + ["-H", "Content-Type: application/json", "--data", #"{"attributes":{"sub":"dan"}}"#])
        #expect(created.status == 201, "\(created.body)")
        let adminCall = try #require(created.header("x-request-id"))
        let lines = try await Self.lines(proxy) { audit in
            Self.ending(audit, annHandle) != nil && Self.ending(audit, benHandle) != nil
        }
        let evicted = try #require(Self.ending(lines, annHandle))
        #expect(evicted["reason"] as? String == "evicted", "\(evicted)")
        #expect(evicted["request_id"] as? String == login, "the login that pushed it out: \(evicted)")
        #expect(evicted["client"] as? String == "127.0.0.1" && evicted["sub"] as? String == "ann")
        let catCreated = Self.audit(lines).first { $0["event"] as? String == "created" && $0["handle"] as? String == catHandle }
        #expect(catCreated?["request_id"] as? String == login, "the same request as the session it made room for")
        let byAdmin = try #require(Self.ending(lines, benHandle))
        #expect(byAdmin["reason"] as? String == "evicted" && byAdmin["request_id"] as? String == adminCall, "\(byAdmin)")
    }

    /// Endings by time (idle, absolute) are reported when the proxy observes them: at the next
    /// lookup, or the sweeper's pass (every `touch_interval` here). They name no request.
    @Test func expiriesAreReportedWhenObserved() async throws {
        let proxy = try await BinaryHarness(session: "idle_timeout: 3s\nabsolute_timeout: 6s\ntouch_interval: 1s")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let asked = Date()
        let busy = try await proxy.login("eve")
        let answered = Date()
        let eveHandle = try #require(try await Self.handles(proxy, "eve").first)
        _ = try await proxy.login("ben")
        let benHandle = try #require(try await Self.handles(proxy, "ben").first)
        // Kept active, eve's session still ends six seconds after it was made, some time
        // between `asked` and `answered`; ben's, untouched, goes idle after three. Eve's
        // requests stop about 5 s after `asked` (well before her absolute deadline), and her
        // last touch is written at most 1 s (touch_interval) before her last request, so her
        // idle deadline is past `asked + 6.75 s`, later than the absolute one unless the login
        // took 0.75 s. The check comes 6.3 s after `answered`, when the absolute one has passed.
        while Date().timeIntervalSince(asked) < 5 {
            #expect(try await proxy.status(busy) == 200)
            try await Task.sleep(for: .milliseconds(250))
        }
        try await Task.sleep(for: .seconds(max(0.1, 6.3 - Date().timeIntervalSince(answered))))
        #expect(try await proxy.status(busy) == 401)
        let lines = try await Self.lines(proxy) { audit in
            Self.ending(audit, eveHandle) != nil && Self.ending(audit, benHandle) != nil
        }
        let absolute = try #require(Self.ending(lines, eveHandle))
        #expect(absolute["reason"] as? String == "absolute", "\(absolute)")
        let idle = try #require(Self.ending(lines, benHandle))
        #expect(idle["reason"] as? String == "idle", "\(idle)")
        for line in [absolute, idle] {
            #expect(line["request_id"] == nil && line["client"] as? String == "127.0.0.1", "\(line)")
        }
    }

    @Test func eachLogCanBeTurnedOffAlone() async throws {
        let quiet = try await BinaryHarness()
        try await quiet.start(environment: ["CLOAKROOM_AUDIT_LOG": "off"])
        defer { Task { await quiet.finish() } }
        _ = try await quiet.login("alice")
        let lines = try await Self.lines(quiet) { _ in false }
        #expect(Self.audit(lines).isEmpty)
        #expect(lines.contains { $0["msg"] as? String == "request" })

        let auditOnly = try await BinaryHarness()
        try await auditOnly.start(environment: ["CLOAKROOM_ACCESS_LOG": "off"])
        defer { Task { await auditOnly.finish() } }
        _ = try await auditOnly.login("alice")
        let audited = try await Self.lines(auditOnly) { !$0.isEmpty }
        #expect(Self.audit(audited).count == 1)
        #expect(!audited.contains { $0["msg"] as? String == "request" })
    }

    /// Single sign-on's reasons: the provider ends a session (`idp`) and refuses a refresh
    /// (`refresh_failed`).
    @Test func theIdentityProvidersEndingsAreAudited() async throws {
        let port = try freePort()
        let base = "http://127.0.0.1:\(port)"
        let idp = try await IdentityProviderProcess.start(proxyBases: [base], accessLifetime: 2, refreshLifetime: 3)
        defer { idp.stop() }
        let proxy = try await BinaryHarness(extra: idp.loginYAML(base: base, passingTokens: true), port: port)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        func signIn(_ browser: CookieJarBrowser) async throws -> String {
            let first = try await browser.get("\(base)/login?next=/app")
            let (page, url) = try await browser.follow(first, from: "\(base)/login?next=/app")
            _ = try await browser.signInAtProvider(page, url: url, user: "diana", password: "krall")
            return try #require(browser.cookie(named: "cloakroom_session"))
        }
        let laptop = CookieJarBrowser(), phone = CookieJarBrowser()
        _ = try await signIn(laptop)
        let phoneCookie = try await signIn(phone)
        let handles = try await Self.handles(proxy, "diana")
        #expect(handles.count == 2)
        _ = try await laptop.logOutAtProvider(issuer: idp.issuer)
        try await Task.sleep(for: .seconds(4))  // the phone's refresh token has expired at the provider
        #expect(try await proxy.status(phoneCookie, "/app") == 401)
        let lines = try await Self.lines(proxy) { audit in
            ["idp", "refresh_failed"].allSatisfy { reason in audit.contains { $0["reason"] as? String == reason } }
        }
        let endings = Self.audit(lines).filter { $0["event"] as? String == "ended" }
        #expect(Set(endings.compactMap { $0["reason"] as? String }) == ["idp", "refresh_failed"], "\(endings)")
        #expect(Set(endings.compactMap { $0["handle"] as? String }) == Set(handles))
        #expect(endings.allSatisfy { $0["request_id"] != nil && $0["sub"] as? String == "diana" })
        let created = Self.audit(lines).filter { $0["event"] as? String == "created" }
        #expect(created.count == 2 && created.allSatisfy { $0["client"] as? String == "127.0.0.1" })
        // No token in the output.
        let text = try String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)
        #expect(!text.contains("eyJ"), "no JWT anywhere in the logs")
    }
}
