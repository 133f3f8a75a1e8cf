import CloakroomServer
import Foundation
import Testing

/// Central logout through the admin API and the CLI, metrics and the access log, with the real
/// binary.
@Suite(.serialized) struct AdminTests {
    @Test func revokeAUserThroughTheAdminAPIAndTheCLI() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let alice1 = try await proxy.login("alice"), alice2 = try await proxy.login("alice"), bob = try await proxy.login("bob")
        for cookie in [alice1, alice2, bob] { #expect(try await proxy.status(cookie) == 200) }

        // Wrong or missing token → 401; healthz needs none.
        #expect(try await Curl.get("\(proxy.admin)/sessions").status == 401)
        #expect(try await Curl.get("\(proxy.admin)/sessions", ["-H", "Authorization: Bearer wrong"]).status == 401)
        #expect(try await Curl.get("\(proxy.admin)/healthz").body == "{\"status\":\"ok\"}")
        let headed = try await Curl.get("\(proxy.admin)/healthz", ["-I"])
        #expect(headed.status == 200 && headed.body.isEmpty && headed.header("content-length") == "15", "HEAD: \(headed)")

        let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]
        let listed = try await Curl.get("\(proxy.admin)/sessions?user=alice", auth)
        #expect(listed.status == 200)
        let sessions = try #require((try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["sessions"] as? [[String: Any]])
        #expect(sessions.count == 2)
        #expect(sessions.allSatisfy { $0["sub"] as? String == "alice" && $0["handle"] is String && $0["expires_at"] is String })
        #expect((sessions.first?["attributes"] as? [String: Any])?["email"] as? String == "alice@example.com")

        let revoked = try await Curl.get("\(proxy.admin)/users/alice/sessions", auth + ["-X", "DELETE"])
        #expect(revoked.body == "{\"revoked\":2}")
        #expect(try await proxy.status(alice1) == 401)
        #expect(try await proxy.status(alice2) == 401)
        #expect(try await proxy.status(bob) == 200, "bob is unaffected")

        // The same through the CLI.
        let carol = try await proxy.login("carol")
        let table = try await proxy.cli(["sessions", "list", "--user", "carol"])
        #expect(table.status == 0)
        #expect(table.output.contains("HANDLE") && table.output.contains("carol"), "\(table.output)")
        let json = try await proxy.cli(["sessions", "list", "--json"])
        #expect(json.output.contains("\"sessions\""))
        let cli = try await proxy.cli(["sessions", "revoke", "--user", "carol"])
        #expect(cli.status == 0)
        #expect(cli.output.contains("revoked 1 session"), "\(cli.output)")
        #expect(try await proxy.status(carol) == 401)

        // One session by handle, then everyone.
        let dave = try await proxy.login("dave")
        let handle = try #require(
            ((try JSONSerialization.jsonObject(with: Data(try await Curl.get("\(proxy.admin)/sessions?user=dave", auth).body.utf8)) as? [String: Any])?["sessions"] as? [[String: Any]])?.first?["handle"] as? String)
        let byHandle = try await proxy.cli(["sessions", "revoke", "--session", handle])
        #expect(byHandle.status == 0, "\(byHandle.output) \(byHandle.errors)")
        #expect(try await proxy.status(dave) == 401)
        #expect(try await proxy.cli(["sessions", "revoke", "--session", handle]).status == 1, "already gone → 404 → exit 1")
        let everyone = try await proxy.cli(["sessions", "revoke", "--all"])
        #expect(everyone.output.contains("revoked 1 session"), "bob: \(everyone.output)")
        #expect(try await proxy.status(bob) == 401)
    }

    @Test func cliExplainsAWrongTokenAndAnUnreachableAdminAPI() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let wrong = try await proxy.cli(["sessions", "list", "--token", "nope"])
        #expect(wrong.status == 1)
        #expect(wrong.errors.contains("refused the token"), "\(wrong.errors)")
        // The public listener's 401 (`{"error":"unauthenticated"}`) is not the admin API's.
        let publicListener = try await proxy.cli(["sessions", "list", "--admin", proxy.base])
        #expect(publicListener.status == 1)
        #expect(publicListener.errors == "\(proxy.base) answered 401 without the admin API's JSON; is --admin (or admin.listen) the admin listener?\n",
                "\(publicListener.errors)")
        let unreachable = try await proxy.cli(["sessions", "list", "--admin", "http://127.0.0.1:\(try freePort())"])
        #expect(unreachable.status == 1)
        #expect(unreachable.errors.contains("unreachable"), "\(unreachable.errors)")
        #expect(try await proxy.cli(["sessions", "revoke"]).status == 2, "usage error")
    }

    /// `DELETE /sessions/{handle}` and `DELETE /api-keys/{handle}` answer 204: no content, so
    /// neither `Content-Type` (they used to say `application/json`) nor `Content-Length`, as
    /// the admin listener writes them on the wire.
    @Test func aNoContentAnswerCarriesNoContentType() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]
        _ = try await Self.createSession(proxy, attributes: #"{"sub":"erin"}"#)
        let listed = try await Curl.get("\(proxy.admin)/sessions?user=erin", auth)
        let sessions = (try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["sessions"] as? [[String: Any]]
        let session = try #require(sessions?.first?["handle"] as? String)
        let created = try await Curl.get(
            "\(proxy.admin)/api-keys", auth + ["-X", "POST", "-H", "Content-Type: application/json", "--data", #"{"attributes":{"sub":"ci"}}"#])
        let key = try #require((try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["handle"] as? String)
        for path in ["/sessions/\(session)", "/api-keys/\(key)"] {
            // Kept alive, with a request behind it: the 204 ends at its blank line (found by an
            // audit: it was framed chunked, and its `0` chunk was misread as the next answer).
            let answer = try await RawSocket.send(
                port: proxy.adminPort,
                "DELETE \(path) HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer \(BinaryHarness.token)\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            let parts = answer.lowercased().components(separatedBy: "\r\n\r\n")
            let head = parts[0]
            #expect(head.hasPrefix("http/1.1 204"), "\(path): \(answer)")
            #expect(!head.contains("content-type:") && !head.contains("content-length:") && !head.contains("transfer-encoding"), "\(path): \(answer)")
            #expect(head.contains("x-request-id:") && head.contains("cache-control: no-store"), "\(path): \(answer)")
            #expect(parts.count > 1 && parts[1].hasPrefix("http/1.1 200"), "the next answer follows at once: \(answer)")
        }
    }

    /// Two Authorization fields are 400, as on the public listeners: which one a token check
    /// reads would be a guess (the first was taken).
    @Test func twoAuthorizationFieldsAreABadRequest() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        for order in [["Bearer \(BinaryHarness.token)", "Bearer wrong"], ["Bearer wrong", "Bearer \(BinaryHarness.token)"]] {
            let answer = try await RawSocket.send(
                port: proxy.adminPort,
                "GET /sessions HTTP/1.1\r\nHost: admin\r\nAuthorization: \(order[0])\r\nAuthorization: \(order[1])\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 400 ") && answer.contains(#"{"error":"bad_request"}"#), "\(answer)")
        }
        let one = try await Curl.get("\(proxy.admin)/sessions", ["-H", "Authorization: Bearer \(BinaryHarness.token)"])
        #expect(one.status == 200)
    }

    /// The assertion keys' path never needs the token (SPEC "Admin API"); without
    /// `identity.assertion` there are no keys, so it is not found, with a token or without.
    @Test func theKeysPathWithoutAnAssertionIsNotFoundWithOrWithoutAToken() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        for arguments in [[], ["-H", "Authorization: Bearer \(BinaryHarness.token)"], ["-H", "Authorization: Bearer wrong"]] {
            let response = try await Curl.get("\(proxy.admin)/.well-known/cloakroom/jwks.json", arguments)
            #expect(response.status == 404, "\(arguments): \(response.body)")
            #expect(response.body == #"{"error":"not_found"}"#)
        }
        #expect(try await Curl.get("\(proxy.admin)/sessions").status == 401, "other routes still need the token")
    }

    @Test func adminCreatesSessionsAndMetricsCountRevocations() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]
        let cookie = try await Self.createSession(proxy, attributes: "{\"sub\":\"erin\",\"roles\":[\"ops\"]}")
        #expect(cookie.hasPrefix("cloakroom_session="))
        #expect(try await proxy.status(cookie) == 200)
        #expect(proxy.backend.requests.last?.value("X-User-Roles") == "ops")
        #expect(try await Curl.get("\(proxy.admin)/sessions", auth + ["-X", "POST", "--data", "{\"attributes\":{}}"]).status == 400)

        _ = try await Curl.get("\(proxy.admin)/users/erin/sessions", auth + ["-X", "DELETE"])
        let alice = try await proxy.login("alice")
        _ = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(alice)"])
        let metrics = try await Curl.get("\(proxy.admin)/metrics", auth)
        #expect(metrics.status == 200)
        let samples = try PrometheusText.parse(metrics.body)
        #expect(samples["cloakroom_sessions_ended_total{reason=\"admin\"}"] == 1)
        #expect(samples["cloakroom_sessions_ended_total{reason=\"logout\"}"] == 1)
        #expect(samples["cloakroom_logins_total"] == 2)
        #expect(samples["cloakroom_requests_total{route=\"/\",status=\"200\",outcome=\"complete\"}"] ?? 0 >= 2)
        #expect(samples["cloakroom_sessions_active"] == 0)
        #expect(samples.keys.contains { $0.hasPrefix("cloakroom_upstream_response_seconds_bucket") })
        #expect(samples.keys.contains { $0.hasPrefix("cloakroom_store_operation_seconds") })
        #expect(try await Curl.get("\(proxy.admin)/metrics").status == 401)
    }

    /// Before any event, a scrape already shows the session, store and API-key counters at 0,
    /// so `rate()` and `increase()` see a store's first error; every metric has its `# HELP`.
    @Test func countersAreAtZeroBeforeTheirFirstEvent() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let body = try await Curl.get("\(proxy.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body
        let samples = try PrometheusText.parse(body)
        // Each metric says what it is (`# HELP`), as the README's table does.
        for name in ["cloakroom_logins_total", "cloakroom_store_errors_total", "cloakroom_sessions_active"] {
            #expect(body.contains("# HELP \(name) \(MetricHelp.texts[name] ?? "?")\n"), "\(name)")
        }
        for name in [
            "cloakroom_logins_total", "cloakroom_store_errors_total{operation=\"lookup\"}",
            "cloakroom_store_errors_total{operation=\"create\"}", "cloakroom_sessions_ended_total{reason=\"idle\"}",
            "cloakroom_sessions_ended_total{reason=\"admin\"}", "cloakroom_api_keys_created_total",
            "cloakroom_api_keys_ended_total{reason=\"admin\"}", "cloakroom_store_operation_seconds_count{operation=\"lookup\"}",
        ] {
            #expect(samples[name] == 0, "\(name)")
        }
    }

    /// `POST /sessions` through the admin API (201 expected); the new session's cookie.
    static func createSession(_ proxy: BinaryHarness, attributes: String) async throws -> String {
        let created = try await Curl.get(
            "\(proxy.admin)/sessions",
            ["-H", "Authorization: Bearer \(BinaryHarness.token)", "-X", "POST", "-H", "Content-Type: application/json", "--data", "{\"attributes\":\(attributes)}"])
        #expect(created.status == 201)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])
        return try #require(object["cookie"] as? String)
    }

    /// One keep-alive connection, several routes and statuses: each request is counted under
    /// its own labels (the connection reuses its last metric objects only while they match).
    @Test func metricsCountEachRequestOfAKeepAliveConnection() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]
        let cookie = try await Self.createSession(proxy, attributes: "{\"sub\":\"gus\"}")
        var arguments: [String] = []
        for (path, withCookie) in [("/api/a", true), ("/api/b", false), ("/public/c", true), ("/api/d", true)] {
            if !arguments.isEmpty { arguments.append("--next") }
            arguments += ["-s", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n"]
            if withCookie { arguments += ["-H", "Cookie: \(cookie)"] }
            arguments.append("\(proxy.base)\(path)")
        }
        let results = try Curl.run(arguments).split(separator: "\n")
        #expect(results == ["200 1", "401 0", "200 0", "200 0"], "four requests, one connection")
        let samples = try PrometheusText.parse(try await Curl.get("\(proxy.admin)/metrics", auth).body)
        #expect(samples["cloakroom_requests_total{route=\"/\",status=\"200\",outcome=\"complete\"}"] == 2)
        #expect(samples["cloakroom_requests_total{route=\"/\",status=\"401\",outcome=\"complete\"}"] == 1)
        #expect(samples["cloakroom_requests_total{route=\"/public/\",status=\"200\",outcome=\"complete\"}"] == 1)
        #expect(samples["cloakroom_upstream_response_seconds_count{upstream=\"api\"}"] == 3)
        // `auth: none` routes look nothing up.
        #expect(samples["cloakroom_store_operation_seconds_count{operation=\"lookup\"}"] == 2)
        #expect(samples["cloakroom_store_operation_seconds_count{operation=\"create\"}"] == 1)
        // The logout endpoint is counted as `logout`, though the catch-all route matches its
        // path too (found by an audit).
        let logout = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(cookie)"])
        #expect(logout.status == 204 && logout.header("content-length") == nil, "RFC 9110 §8.6: none in a 204")
        let after = try PrometheusText.parse(try await Curl.get("\(proxy.admin)/metrics", auth).body)
        #expect(after["cloakroom_requests_total{route=\"logout\",status=\"204\",outcome=\"complete\"}"] == 1)
        #expect(after["cloakroom_requests_total{route=\"/\",status=\"204\",outcome=\"complete\"}"] == nil)
    }

    @Test func accessLogIsJSONLinesWithoutCookies() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let cookie = try await proxy.login("frank")
        _ = try await Curl.get("\(proxy.base)/api/items?token=secret-query", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/api/none")
        // Buffered, but flushed every second: visible while the process still runs.
        var running: [Substring] = []
        for _ in 0..<30 where running.count < 3 {
            try await Task.sleep(for: .milliseconds(100))
            running = try String(contentsOfFile: proxy.stdoutPath, encoding: .utf8).split(separator: "\n")
        }
        #expect(running.count >= 3, "access log lines appear within a second, before exit")
        try await proxy.stop()
        let lines = try String(contentsOfFile: proxy.stdoutPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3)
        let entries = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let value = String(cookie.split(separator: "=", maxSplits: 1)[1])
        for line in lines {
            #expect(!line.contains(value) && !line.contains(value.prefix(20)), "cookie in access log: \(line)")
            #expect(!line.contains("secret-query"), "query strings are not logged")
        }
        let items = try #require(entries.first { $0["path"] as? String == "/api/items" })
        #expect(items["status"] as? Int == 200)
        #expect(items["method"] as? String == "GET")
        #expect(items["sub"] as? String == "frank")
        #expect(items["session"] is String)
        #expect(items["upstream"] as? String == "api")
        #expect(items["request_id"] is String && items["time"] is String && items["duration_ms"] != nil && items["bytes"] is Int)
        #expect(entries.contains { $0["path"] as? String == "/api/none" && $0["status"] as? Int == 401 })
    }
}

/// Parses Prometheus text exposition into `name{labels}` → value, checking every line's shape.
enum PrometheusText {
    struct Malformed: Error { let line: String }

    static func parse(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw Malformed(line: String(line))
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
