import CloakroomLogin
import CloakroomStoreConformance
import Foundation
import Testing

/// Session governance through the real binary: where sessions come from on every login path,
/// the self-service page as an API client uses it, and the limit across two instances.
@Suite(.serialized)
struct GovernanceTests {
    static let auth = AuditLogTests.auth

    static func sessions(_ proxy: BinaryHarness, _ sub: String) async throws -> [[String: Any]] {
        let listed = try await Curl.get("\(proxy.admin)/sessions?user=\(sub)", auth)
        let object = try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any]
        return object?["sessions"] as? [[String: Any]] ?? []
    }

    /// A backend's `Session-Login`, the admin API's `POST /sessions` and the built-in login each
    /// record the creating request's client address and `User-Agent`; the admin API and
    /// `cloakroom sessions list` show them. (Single sign-on's are in ``AuditLogTests``.)
    @Test func everyLoginPathRecordsWhereTheSessionCameFrom() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
        _ = try await Curl.get("\(proxy.base)/login?sub=alice", ["-A", agent])
        let created = try await Curl.get(
            "\(proxy.admin)/sessions", Self.auth + ["-X", "POST", "-A", "ops-console/2.1", "--data", #"{"attributes":{"sub":"bob"}}"#])
        #expect(created.status == 201)
        let longAgent = String(repeating: "ü", count: 200)  // 400 bytes: cut to 256, whole characters
        _ = try await Curl.get("\(proxy.base)/login?sub=carol", ["-A", longAgent])

        let alice = try #require(try await Self.sessions(proxy, "alice").first)
        #expect(alice["client"] as? String == "127.0.0.1")
        #expect(alice["user_agent"] as? String == agent)
        let bob = try #require(try await Self.sessions(proxy, "bob").first)
        #expect(bob["client"] as? String == "127.0.0.1" && bob["user_agent"] as? String == "ops-console/2.1")
        let carol = try #require(try await Self.sessions(proxy, "carol").first)
        #expect(carol["user_agent"] as? String == String(repeating: "ü", count: 128))

        let table = try await proxy.cli(["sessions", "list", "--user", "alice"])
        #expect(table.status == 0, "\(table.errors)")
        #expect(table.output.contains("CLIENT") && table.output.contains("USER AGENT"), "\(table.output)")
        #expect(table.output.contains("127.0.0.1") && table.output.contains("Firefox/128.0"), "\(table.output)")
        let json = try await proxy.cli(["sessions", "list", "--json"])
        #expect(json.output.contains(#""client":"127.0.0.1""#) && json.output.contains("ops-console"), "\(json.output)")
    }

    @Test func theBuiltInLoginRecordsItToo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-gov-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let users = directory.appendingPathComponent("users.yaml").path
        try UsersFile.upsert(path: users, name: "demo", password: "correct horse battery", email: nil, roles: [])
        let proxy = try await BinaryHarness(extra: "login:\n  users_file: \(users)")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let login = try await Curl.get(
            "\(proxy.base)/login", ["-A", "Safari/605.1.15 (Macintosh)", "--data", "username=demo&password=correct+horse+battery"])
        #expect(login.status == 303)
        let demo = try #require(try await Self.sessions(proxy, "demo").first)
        #expect(demo["client"] as? String == "127.0.0.1" && demo["user_agent"] as? String == "Safari/605.1.15 (Macintosh)")
    }

    /// Behind a trusted proxy the session records the client it forwarded, not the proxy; from
    /// any other peer a claimed `X-Forwarded-For` is ignored.
    @Test func behindATrustedProxyTheForwardedClientIsRecorded() async throws {
        let proxy = try await BinaryHarness(extra: "client:\n  trusted_proxies: [\"127.0.0.1\"]")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        _ = try await Curl.get("\(proxy.base)/login?sub=ivy", ["-H", "X-Forwarded-For: 203.0.113.7"])
        let ivy = try #require(try await Self.sessions(proxy, "ivy").first)
        #expect(ivy["client"] as? String == "203.0.113.7", "\(ivy)")
        let lines = try await AuditLogTests.lines(proxy) { audit in audit.contains { $0["sub"] as? String == "ivy" } }
        let created = try #require(AuditLogTests.audit(lines).first { $0["sub"] as? String == "ivy" })
        #expect(created["client"] as? String == "203.0.113.7")

        let direct = try await BinaryHarness()
        try await direct.start()
        defer { Task { await direct.finish() } }
        _ = try await Curl.get("\(direct.base)/login?sub=jay", ["-H", "X-Forwarded-For: 203.0.113.7"])
        let jay = try #require(try await Self.sessions(direct, "jay").first)
        #expect(jay["client"] as? String == "127.0.0.1", "a claim from an untrusted peer: \(jay)")
    }

    /// The self-service page as an API client uses it: JSON, `DELETE`, the form POSTs.
    @Test func selfServiceThroughJSON() async throws {
        let page = "/.cloakroom/sessions"
        let proxy = try await BinaryHarness(session: "self_service: \(page)")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let laptop = try await proxy.login("alice")
        _ = try await Curl.get("\(proxy.base)/login?sub=alice", ["-A", "phone-browser"])
        _ = try await proxy.login("alice")
        let bob = try await proxy.login("bob")
        let bobHandle = try #require(try await Self.sessions(proxy, "bob").first?["handle"] as? String)

        #expect(try await Curl.get("\(proxy.base)\(page)").status == 401, "no session, no page")
        let listed = try await Curl.get("\(proxy.base)\(page)", ["-H", "Cookie: \(laptop)"])
        #expect(listed.status == 200 && listed.header("content-type") == "application/json")
        let sessions = try #require((try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["sessions"] as? [[String: Any]])
        #expect(sessions.count == 3)
        #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
        let phone = try #require(sessions.first { $0["user_agent"] as? String == "phone-browser" })
        #expect(phone["client"] as? String == "127.0.0.1" && phone["current"] as? Bool == false)
        for key in ["handle", "created_at", "last_seen_at", "expires_at", "client", "user_agent", "current"] {
            #expect(phone[key] != nil, "\(key)")
        }

        // Another user's handle is refused as if it did not exist, and lives on.
        let refused = try await Curl.get("\(proxy.base)\(page)/\(bobHandle)", ["-X", "DELETE", "-H", "Cookie: \(laptop)"])
        #expect(refused.status == 404)
        #expect(try await proxy.status(bob) == 200)
        let refusedForm = try await Curl.get("\(proxy.base)\(page)/\(bobHandle)/end", ["-X", "POST", "-H", "Cookie: \(laptop)"])
        #expect(refusedForm.status == 404)

        let phoneHandle = try #require(phone["handle"] as? String)
        let ended = try await Curl.get("\(proxy.base)\(page)/\(phoneHandle)", ["-X", "DELETE", "-H", "Cookie: \(laptop)"])
        #expect(ended.status == 204)
        #expect(try await Self.sessions(proxy, "alice").count == 2)
        let others = try await Curl.get(
            "\(proxy.base)\(page)/end-others", ["-X", "POST", "-H", "Cookie: \(laptop)", "-H", "Accept: text/html"])
        #expect(others.status == 303 && others.header("location") == page)
        #expect(try await Self.sessions(proxy, "alice").count == 1)
        // A cross-site form post is refused.
        let forged = try await Curl.get(
            "\(proxy.base)\(page)/end-others", ["-X", "POST", "-H", "Cookie: \(laptop)", "-H", "Origin: https://evil.example"])
        #expect(forged.status == 403 && forged.body == #"{"error":"csrf"}"#)
        // The current one ends like a logout.
        let currentHandle = try #require(try await Self.sessions(proxy, "alice").first?["handle"] as? String)
        let out = try await Curl.get("\(proxy.base)\(page)/\(currentHandle)/end", ["-X", "POST", "-H", "Cookie: \(laptop)"])
        #expect(out.status == 204)
        #expect(out.header("set-cookie")?.hasPrefix("cloakroom_session=;") == true)
        #expect(try await proxy.status(laptop) == 401)
    }

    /// Two binaries sharing one Redis, a user logging in on both at once: never more than
    /// `max_per_user` sessions live, and exactly the newest survive.
    @Test func loginsRacingOnTwoInstancesSharingRedis() async throws {
        try await RedisServerProcess.with { redis in
            let store = "redis: { url: \"\(redis.url)\", key_prefix: \"race:\" }"
            let a = try await BinaryHarness(store: store, session: "max_per_user: 2")
            try await a.start()
            defer { Task { await a.finish() } }
            let b = try await BinaryHarness(store: store, session: "max_per_user: 2")
            try await b.start()
            defer { Task { await b.finish() } }
            let cookies = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<16 {
                    let instance = index % 2 == 0 ? a : b
                    group.addTask { try await instance.login("gail") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(try await Self.sessions(a, "gail").count == 2)
            var live = 0
            for cookie in cookies where try await b.status(cookie) == 200 { live += 1 }
            #expect(live == 2)
            // Each ending is reported once, by the instance whose login caused it.
            var limited = 0
            for _ in 0..<30 {
                let lines = try await AuditLogTests.lines(a) + (try await AuditLogTests.lines(b))
                limited = AuditLogTests.audit(lines).filter { $0["reason"] as? String == "limit" }.count
                if limited >= 14 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(limited == 14)
        }
    }
}
