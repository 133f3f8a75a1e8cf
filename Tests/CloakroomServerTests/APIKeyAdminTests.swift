import CloakroomStoreConformance
import Foundation
import Testing

/// API keys through the real binary's admin API and `cloakroom keys`: created with curl and
/// with the CLI, listed without the secret, revoked one by one, by user and with the user's
/// sessions; audit lines with `"kind":"api_key"` and no secret; the metrics; keys in the file
/// store surviving a restart.
@Suite(.serialized)
struct APIKeyAdminTests {
    static let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func create(_ proxy: BinaryHarness, _ body: String) async throws -> ClientResponse {
        try await Curl.get("\(proxy.admin)/api-keys", auth + ["-X", "POST", "-H", "Content-Type: application/json", "--data", body])
    }

    static func keys(_ proxy: BinaryHarness, _ query: String = "") async throws -> [[String: Any]] {
        let listed = try await Curl.get("\(proxy.admin)/api-keys\(query)", auth)
        #expect(listed.status == 200)
        return try #require(try object(listed.body)["keys"] as? [[String: Any]])
    }

    @Test func createListRevokeWithCurlAndTheCLI() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        try await proxy.start()
        defer { Task { await proxy.finish() } }

        // curl: create, shown once.
        let created = try await Self.create(proxy, #"{"attributes":{"sub":"ci-bot","team":"infra"},"name":"deploy","ttl":"30d"}"#)
        #expect(created.status == 201, "\(created.body)")
        let body = try Self.object(created.body)
        let handle = try #require(body["handle"] as? String)
        let key = try #require(body["key"] as? String)
        #expect(key.range(of: #"^ck_[A-Za-z0-9_-]{43}$"#, options: .regularExpression) != nil, "\(key.count) characters")
        let refused = try await Self.create(proxy, #"{"attributes":{"sub":"ci-bot"},"ttl":"400d"}"#)
        #expect(refused.status == 400)
        #expect(try Self.object(refused.body)["error"] as? String == "invalid_ttl")
        #expect(try await Self.create(proxy, #"{"attributes":{"team":"x"}}"#).status == 400)
        #expect(try await Curl.get("\(proxy.admin)/api-keys").status == 401)

        // The CLI: create (the key alone on the last line), list, JSON.
        let cli = try await proxy.cli([
            "keys", "create", "--user", "ci-bot", "--attr", "env=prod", "--attr", "roles=deploy", "--attr", "roles=read", "--name", "nightly",
            "--ttl", "7d",
        ])
        #expect(cli.status == 0, "\(cli.errors)")
        let lines = cli.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("handle: "), "\(cli.output)")
        #expect(lines.last?.hasPrefix("ck_") == true)
        let cliHandle = String(lines[0].dropFirst("handle: ".count))
        let asJSON = try await proxy.cli(["keys", "create", "--user", "other", "--json"])
        #expect(try Self.object(asJSON.output)["key"] is String)

        let listed = try await Self.keys(proxy, "?user=ci-bot")
        #expect(listed.map { $0["handle"] as? String } == [handle, cliHandle])
        #expect((listed[1]["attributes"] as? [String: Any])?["env"] as? String == "prod")
        #expect((listed[1]["attributes"] as? [String: Any])?["roles"] as? [String] == ["deploy", "read"], "a repeated --attr is a list")
        #expect(listed[1]["name"] as? String == "nightly")
        let table = try await proxy.cli(["keys", "list", "--user", "ci-bot"])
        #expect(table.status == 0 && table.output.contains("HANDLE") && table.output.contains("nightly"), "\(table.output)")
        #expect(!table.output.contains(key))
        let all = try await proxy.cli(["keys", "list", "--json"])
        #expect(try Self.object(all.output)["keys"] is [Any])
        #expect(!all.output.contains(key))

        // Usage errors exit 2; the admin API's refusals exit 1 with its message.
        #expect(try await proxy.cli(["keys", "create", "--user", "x", "--ttl", "soon"]).status == 2)
        #expect(try await proxy.cli(["keys", "create", "--user", "x", "--attr", "novalue"]).status == 2)
        #expect(try await proxy.cli(["keys", "revoke"]).status == 2)
        #expect(try await proxy.cli(["keys", "revoke", "--key", "a", "--user", "b"]).status == 2)
        let tooLong = try await proxy.cli(["keys", "create", "--user", "x", "--ttl", "400d"])
        #expect(tooLong.status == 1)
        #expect(tooLong.errors.contains("365d"), "\(tooLong.errors)")
        #expect(try await proxy.cli(["keys", "list", "--token", "wrong"]).status == 1)

        // Restart: the file store keeps the keys.
        try await proxy.stop()
        try await proxy.start()
        #expect(try await Self.keys(proxy, "?user=ci-bot").count == 2)

        // Revoke one with the CLI, then 404.
        let one = try await proxy.cli(["keys", "revoke", "--key", cliHandle])
        #expect(one.status == 0 && one.output.contains("revoked 1 API key"), "\(one.output)\(one.errors)")
        #expect(try await proxy.cli(["keys", "revoke", "--key", cliHandle]).status == 1)
        #expect(try await Curl.get("\(proxy.admin)/api-keys/\(cliHandle)", Self.auth + ["-X", "DELETE"]).status == 404)

        // A user's keys alone (CLI), then with their sessions (admin API).
        let danaKey = try await Self.create(proxy, #"{"attributes":{"sub":"dana"}}"#)
        let danaHandle = try #require(try Self.object(danaKey.body)["handle"] as? String)
        _ = try await Self.create(proxy, #"{"attributes":{"sub":"dana"}}"#)
        let dana = try await proxy.login("dana")
        let byUser = try await proxy.cli(["keys", "revoke", "--user", "dana"])
        #expect(byUser.output.contains("revoked 2 API keys"), "\(byUser.output)\(byUser.errors)")
        #expect(try await proxy.status(dana) == 200, "their session stays")
        _ = try await proxy.login("ci-bot")
        let everywhere = try await Curl.get("\(proxy.admin)/users/ci-bot/sessions", Self.auth + ["-X", "DELETE"])
        #expect(everywhere.body == #"{"revoked":2}"#, "one session and one key")
        #expect(try await Self.keys(proxy, "?user=ci-bot").isEmpty)
        #expect(try await Curl.get("\(proxy.admin)/api-keys/\(handle)", Self.auth + ["-X", "DELETE"]).status == 404)

        // The CLI's "log out everywhere" counts sessions and keys apart (an audit found "revoked
        // 3 sessions" for one session and two keys).
        _ = try await Self.create(proxy, #"{"attributes":{"sub":"erin"}}"#)
        _ = try await Self.create(proxy, #"{"attributes":{"sub":"erin"}}"#)
        let erin = try await proxy.login("erin")
        let everywhereCLI = try await proxy.cli(["sessions", "revoke", "--user", "erin"])
        #expect(everywhereCLI.status == 0 && everywhereCLI.output.contains("revoked 1 session and 2 API keys"), "\(everywhereCLI.output)")
        #expect(try await proxy.status(erin) == 401)
        #expect(try await Self.keys(proxy, "?user=erin").isEmpty)
        let none = try await proxy.cli(["sessions", "revoke", "--user", "erin"])
        #expect(none.output.contains("revoked 0 sessions") && !none.output.contains("API key"), "\(none.output)")

        // Metrics and audit lines.
        let samples = try PrometheusText.parse(try await Curl.get("\(proxy.admin)/metrics", Self.auth).body)
        #expect(samples["cloakroom_api_keys_created_total"] == 4, "since the restart, erin's two included")
        #expect(samples["cloakroom_api_keys_ended_total{reason=\"admin\"}"] == 6)
        let audit = try await AuditLogTests.lines(proxy) { lines in
            lines.filter { $0["kind"] as? String == "api_key" && $0["event"] as? String == "ended" }.count >= 4
        }
        let keyLines = AuditLogTests.audit(audit).filter { $0["kind"] as? String == "api_key" }
        // (The log restarted with the proxy: lines from after the restart.)
        let createdLine = try #require(keyLines.first { $0["handle"] as? String == danaHandle && $0["event"] as? String == "created" })
        #expect(createdLine["sub"] as? String == "dana")
        #expect(createdLine["client"] as? String == "127.0.0.1", "the admin API call's client (a key has none of its own)")
        #expect(createdLine["request_id"] is String)
        let endedLine = try #require(keyLines.first { $0["handle"] as? String == handle && $0["event"] as? String == "ended" })
        #expect(endedLine["reason"] as? String == "admin")
        #expect(AuditLogTests.audit(audit).contains { $0["kind"] == nil && $0["sub"] as? String == "dana" }, "sessions' lines as before")
        let everything = (try? String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)) ?? ""
        #expect(!everything.contains(key) && !everything.contains(String(key.dropFirst(3))), "never the key")
        for line in lines where line.hasPrefix("ck_") { #expect(!everything.contains(line)) }
    }

    /// Two binaries sharing one Redis: a key made through A's admin API is listed by B, revoked
    /// through B's CLI and gone from A's listing at once; A's revoke of every session leaves it.
    @Test func keysAreSharedThroughRedis() async throws {
        try await RedisServerProcess.with { redis in
            let a = try await RedisClusterTests.instance(redis, prefix: "keys:")
            defer { Task { await a.finish() } }
            let b = try await RedisClusterTests.instance(redis, prefix: "keys:")
            defer { Task { await b.finish() } }
            let made = try await a.cli(["keys", "create", "--user", "ci-bot", "--name", "deploy", "--json"])
            let handle = try #require(try Self.object(made.output)["handle"] as? String)
            _ = try await a.cli(["keys", "create", "--user", "ci-bot"])
            #expect(try await Self.keys(b, "?user=ci-bot").map { $0["handle"] as? String }.first == handle)
            #expect(try await Curl.get("\(a.admin)/sessions", Self.auth + ["-X", "DELETE"]).status == 200)
            #expect(try await Self.keys(b).count == 2, "everyone's sessions revoked: keys stay")
            let revoked = try await b.cli(["keys", "revoke", "--key", handle])
            #expect(revoked.status == 0, "\(revoked.errors)")
            #expect(try await Self.keys(a).count == 1)
            let user = try await Curl.get("\(b.admin)/users/ci-bot/sessions", Self.auth + ["-X", "DELETE"])
            #expect(user.body == #"{"revoked":1}"#)
            #expect(try await Self.keys(a).isEmpty)
        }
    }
}
