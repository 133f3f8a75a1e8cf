import CloakroomLogin
import CloakroomStoreConformance
import Foundation
import Testing

/// Several `cloakroom` binaries sharing one real redis-server: a session made on one is good
/// on the other, a revoke or a `Session-Logout: all` on one holds on the other at the next
/// request, and a WebSocket held by one closes within a second of a revoke made on the other.
/// Then Redis going away and coming back.
@Suite(.serialized)
struct RedisClusterTests {
    static func instance(_ redis: RedisServerProcess, prefix: String = "cluster:") async throws -> BinaryHarness {
        let harness = try await BinaryHarness(store: "redis: { url: \"\(redis.url)\", key_prefix: \"\(prefix)\" }")
        try await harness.start()
        return harness
    }

    static func webSocket(port: Int, cookie: String) async throws -> WebSocketClient {
        try await offPool { try WebSocketClient(port: port, path: "/ws", headers: ["Cookie: \(cookie)"]) }
    }

    /// Found by an audit: Pub/Sub channels are server-wide, so a revoke-all by a deployment on
    /// database 0 cut the open tunnels and streams of another on database 1 (same prefix),
    /// whose sessions lived on. Endings announced by user or for everyone are checked against
    /// the instance's own store first.
    @Test func aRevokeOnAnotherDatabaseLeavesThisOnesTunnelsOpen() async throws {
        try await RedisServerProcess.with { redis in
            let a = try await Self.instance(redis)
            defer { Task { await a.finish() } }
            let other = redis.url.replacingOccurrences(of: "/0", with: "/1")
            let b = try await BinaryHarness(store: "redis: { url: \"\(other)\", key_prefix: \"cluster:\" }")
            try await b.start()
            defer { Task { await b.finish() } }
            let fay = try await b.login("fay")
            let client = try await Self.webSocket(port: b.port, cookie: fay)
            #expect(client.status == 101)
            _ = try await a.login("fay")

            for path in ["/sessions", "/users/fay/sessions"] {
                let revoked = try await Curl.get("\(a.admin)\(path)", ["-X", "DELETE", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
                #expect(revoked.status == 200, "\(path): \(revoked.body)")
            }
            try await Task.sleep(for: .seconds(1))  // four of the watch's rounds
            try await offPool { try client.sendText("still open") }
            #expect(try await offPool { try client.readFrame() }?.text == "echo:still open", "B's tunnel outlived A's revokes")
            #expect(try await b.status(fay) == 200)

            // B's own revoke still closes it at once.
            let revoked = try await Curl.get("\(b.admin)/sessions", ["-X", "DELETE", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
            #expect(revoked.body == "{\"revoked\":1}")
            let (frames, seconds) = try await WebSocketTests.awaitClose(client)
            #expect(seconds < WebSocketTests.promptly && frames.last?.closeCode == 1008, "\(seconds) s: \(frames)")
        }
    }

    @Test func sessionsAndRevocationsHoldAcrossInstances() async throws {
        try await RedisServerProcess.with { redis in
            let a = try await Self.instance(redis)
            defer { Task { await a.finish() } }
            let b = try await Self.instance(redis)
            defer { Task { await b.finish() } }

            // Log in on A, use the session on B.
            let alice = try await a.login("alice")
            #expect(try await b.status(alice) == 200)
            #expect(b.backend.requests.last?.values("x-user-id") == ["alice"])

            // Revoke the user through A's CLI (its admin API): B refuses at once.
            let revoke = try await a.cli(["sessions", "revoke", "--user", "alice"])
            #expect(revoke.status == 0, "\(revoke.output)\(revoke.errors)")
            #expect(revoke.output.contains("revoked 1 session"))
            #expect(try await b.status(alice) == 401)
            #expect(try await a.status(alice) == 401)

            // Session-Logout: all answered through B: A refuses both of bob's sessions.
            let bob1 = try await a.login("bob"), bob2 = try await b.login("bob")
            #expect(try await a.status(bob2) == 200)
            #expect(try await b.status(bob1) == 200)
            #expect(try await b.status(bob1, "/api/logout-all") == 200)
            #expect(try await a.status(bob1) == 401)
            #expect(try await a.status(bob2) == 401)

            // The admin API of either instance lists what both created.
            let carol = try await b.login("carol")
            let listed = try await Curl.get("\(a.admin)/sessions?user=carol", ["-H", "Authorization: Bearer \(BinaryHarness.token)"])
            #expect(listed.status == 200 && listed.body.contains("\"sub\":\"carol\""))
            _ = carol
        }
    }

    @Test func webSocketOnOneInstanceClosesWhenRevokedOnTheOther() async throws {
        try await RedisServerProcess.with { redis in
            let a = try await Self.instance(redis)
            defer { Task { await a.finish() } }
            let b = try await Self.instance(redis)
            defer { Task { await b.finish() } }
            let dave = try await a.login("dave")
            let client = try await Self.webSocket(port: b.port, cookie: dave)
            #expect(client.status == 101)
            try await offPool { try client.sendText("via b") }
            #expect(try await offPool { try client.readFrame() }?.text == "echo:via b")

            let revoked = try await Curl.get(
                "\(a.admin)/users/dave/sessions", ["-X", "DELETE", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
            #expect(revoked.body == "{\"revoked\":1}")
            let (frames, seconds) = try await WebSocketTests.awaitClose(client)
            #expect(seconds < WebSocketTests.promptly, "closed \(seconds)s after the revoke on the other instance")
            #expect(frames.last?.closeCode == 1008)
        }
    }

    @Test func redisDownMeans503ForSessionsNeverUncheckedForwardsAndRecovery() async throws {
        try await RedisServerProcess.with(appendOnly: true) { redis in
            let proxy = try await Self.instance(redis)
            defer { Task { await proxy.finish() } }
            let erin = try await proxy.login("erin")
            #expect(try await proxy.status(erin) == 200)
            #expect(await Self.revocationFeed(proxy, is: 1), "subscribed once the proxy is up")

            await redis.kill()
            let forwarded = proxy.backend.requests.count
            #expect(try await proxy.status(erin) == 503, "a required route cannot be checked")
            #expect(try await Curl.get("\(proxy.base)/api/me").status == 401, "no cookie needs no store: still 401")
            #expect(proxy.backend.requests.count == forwarded, "nothing forwarded unchecked")
            #expect(try await Curl.get("\(proxy.base)/public/x").status == 200, "auth: none routes keep working")
            let health = try await Curl.get("\(proxy.admin)/healthz")
            #expect(health.status == 503)
            #expect(await Self.revocationFeed(proxy, is: 0), "the alert's metric shows the lost subscription")
            let metrics = try await Curl.get("\(proxy.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body
            let active = metrics.split(separator: "\n").first { $0.hasPrefix("cloakroom_sessions_active ") }
            // Exactly as the README says it is written: `nan` (which Prometheus reads as NaN).
            #expect(active == "cloakroom_sessions_active nan", "unknown, not 0, while Redis is down: \(active ?? "none")")

            try await redis.restart()
            let back = Date()
            var status = 0
            while status != 200 && Date().timeIntervalSince(back) < 10 {
                status = try await proxy.status(erin)
                if status != 200 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == 200, "the session survived the restart (appendonly yes)")
            // About a second on an idle machine; a reconnect backoff past its cap would be far more.
            #expect(Date().timeIntervalSince(back) < 4, "service recovered \(Date().timeIntervalSince(back))s after Redis returned")
            #expect(try await Curl.get("\(proxy.admin)/healthz").status == 200)
            #expect(await Self.revocationFeed(proxy, is: 1), "subscribed again")
        }
    }

    /// A login the store cannot take is a 503 logged and counted as an `error`, whichever way
    /// it came: the built-in form, or a backend's `Session-Login` (found by an audit: the
    /// form's 503 was logged `complete`).
    @Test func aLoginTheStoreCannotTakeIsAnError() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-down-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let users = directory.appendingPathComponent("users.yaml").path
        try UsersFile.upsert(path: users, name: "demo", password: "correct horse battery", email: nil, roles: [])
        try await RedisServerProcess.with { redis in
            let proxy = try await BinaryHarness(
                store: "redis: { url: \"\(redis.url)\", connect_timeout: 1s, command_timeout: 1s }",
                extra: "login:\n  users_file: \(users)")
            try await proxy.start()
            defer { Task { await proxy.finish() } }
            // Every counter is there from the start, at 0 (found by an audit: this one came with
            // the first refused write).
            let before = try await Curl.get("\(proxy.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body
            #expect(before.contains("\ncloakroom_redis_unacknowledged_writes_total 0\n"), "\(before)")
            await redis.kill()
            let form = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=correct+horse+battery"])
            #expect(form.status == 503 && form.body == #"{"error":"session_store_unavailable"}"#, "\(form.status) \(form.body)")
            let json = try await Curl.get(
                "\(proxy.base)/login", ["-H", "Content-Type: application/json", "--data", #"{"username":"demo","password":"correct horse battery"}"#])
            #expect(json.status == 503)
            var logged: [Substring] = []
            for _ in 0..<30 where logged.count < 2 {
                try await Task.sleep(for: .milliseconds(100))
                let text = (try? String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)) ?? ""
                logged = text.split(separator: "\n").filter { $0.contains(#""msg":"request""#) && $0.contains(#""path":"/login""#) }
            }
            #expect(logged.count == 2 && logged.allSatisfy { $0.contains(#""outcome":"error""#) && $0.contains(#""status":503"#) }, "\(logged)")
            let metrics = try await Curl.get("\(proxy.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body
            #expect(metrics.contains(#"cloakroom_requests_total{route="/",status="503",outcome="error"} 2"#), "\(metrics)")
        }
    }

    /// Whether `cloakroom_redis_revocation_feed_up` on `/metrics` reads `value` within 3 s.
    static func revocationFeed(_ proxy: BinaryHarness, is value: Int) async -> Bool {
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            let metrics = (try? await Curl.get("\(proxy.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body) ?? ""
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("cloakroom_redis_revocation_feed_up ") }
            if let line, Double(line.split(separator: " ").last ?? "") == Double(value) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
