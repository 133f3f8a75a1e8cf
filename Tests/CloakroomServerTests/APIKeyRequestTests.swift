import CloakroomStoreConformance
import Foundation
import Testing

/// API keys signing real requests in (SPEC "Machine clients"), through the real binary on each
/// store: identity headers and `allow` from the key's attributes, the key never forwarded,
/// `last_used_at` touched, a revoked or unknown key 401 `invalid_token` (never a redirect), a
/// cookie not judged beside a key, HTTP/1.1 and h2c alike; on Redis, a revoke on one instance
/// refuses the key on the other at its next request.
@Suite(.serialized)
struct APIKeyRequestTests {
    static let routes = """
        routes:
          - path: /api/
            upstream: api
            credentials: [cookie, api_key]
          - path: /deploy/
            upstream: api
            credentials: [api_key]
            allow:
              - roles: deploy
          - path: /
            upstream: api
        """

    static func create(_ proxy: BinaryHarness, _ body: String) async throws -> (handle: String, key: String) {
        let created = try await APIKeyAdminTests.create(proxy, body)
        #expect(created.status == 201, "\(created.body)")
        let object = try APIKeyAdminTests.object(created.body)
        return (try #require(object["handle"] as? String), try #require(object["key"] as? String))
    }

    static func call(_ proxy: BinaryHarness, _ path: String, key: String, _ extra: [String] = []) async throws -> ClientResponse {
        try await Curl.get(proxy.base + path, ["-H", "Authorization: Bearer \(key)"] + extra)
    }

    @Test(arguments: ["memory: {}", "file: { path: \"$DB\" }"])
    func aKeySignsRequestsInLikeASession(store: String) async throws {
        let proxy = try await BinaryHarness(store: store, routes: Self.routes)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let ci = try await Self.create(proxy, #"{"attributes":{"sub":"ci-bot","email":"ci@example.com","roles":["reader"]},"name":"ci"}"#)
        let deployer = try await Self.create(proxy, #"{"attributes":{"sub":"deployer","roles":["deploy"]}}"#)

        for version in [[], ["--http2-prior-knowledge"]] {
            let called = try await Self.call(proxy, "/api/items", key: ci.key, version + ["-H", "X-User-Id: mallory"])
            #expect(called.status == 200, "\(version)")
            let received = try #require(proxy.backend.requests.last)
            #expect(received.values("x-user-id") == ["ci-bot"], "the key's identity, the client's copy stripped")
            #expect(received.value("x-user-email") == "ci@example.com")
            #expect(received.value("authorization") == nil, "the key never reaches the backend")
            #expect(called.header("set-cookie") == nil)
        }
        // allow: the reader's key is refused where deploy keys go; a browser session cannot go there at all.
        #expect(try await Self.call(proxy, "/deploy/now", key: ci.key).status == 403)
        #expect(try await Self.call(proxy, "/deploy/now", key: deployer.key).status == 200)
        let cookie = try await proxy.login("alice")
        #expect(try await proxy.status(cookie, "/api/items") == 200, "the cookie still counts where it is listed")
        let browser = try await Curl.get(proxy.base + "/deploy/now", ["-H", "Cookie: \(cookie)"])
        #expect(browser.status == 401 && browser.header("www-authenticate") == #"Bearer error="invalid_token""#, "a kind the route does not accept")

        // A key decides alone: a bad one is 401 even beside a valid cookie, for browsers too.
        let forged = "ck_" + String(repeating: "A", count: 43)
        let refused = try await Self.call(proxy, "/api/items", key: forged, ["-H", "Cookie: \(cookie)", "-H", "Accept: text/html"])
        #expect(refused.status == 401)
        #expect(refused.header("www-authenticate") == #"Bearer error="invalid_token""#)
        #expect(refused.body == #"{"error":"unauthenticated"}"#)
        #expect(refused.header("set-cookie") == nil, "the cookie was not judged, so not deleted")

        // A key on a route that takes none (`/` is cookie-only) is a kind it does not accept:
        // 401 invalid_token beside a valid cookie too, and never forwarded.
        let requestsBefore = proxy.backend.requests.count
        let elsewhere = try await Self.call(proxy, "/other", key: deployer.key, ["-H", "Cookie: \(cookie)"])
        #expect(elsewhere.status == 401)
        #expect(elsewhere.header("www-authenticate") == #"Bearer error="invalid_token""#)
        #expect(proxy.backend.requests.count == requestsBefore, "nothing forwarded")

        // Used: last_used_at is set; revoked: refused at the next request.
        let listed = try await APIKeyAdminTests.keys(proxy, "?user=ci-bot")
        #expect(listed.first?["last_used_at"] is String, "\(listed)")
        #expect(try await Curl.get("\(proxy.admin)/api-keys/\(ci.handle)", APIKeyAdminTests.auth + ["-X", "DELETE"]).status == 204)
        let revoked = try await Self.call(proxy, "/api/items", key: ci.key)
        #expect(revoked.status == 401 && revoked.header("www-authenticate") == #"Bearer error="invalid_token""#)
        // Ending the user's sessions ends their keys too.
        _ = try await Curl.get("\(proxy.admin)/users/deployer/sessions", APIKeyAdminTests.auth + ["-X", "DELETE"])
        #expect(try await Self.call(proxy, "/deploy/now", key: deployer.key).status == 401)
        // The access log names the key by its handle and says a key signed the request in.
        let lines = try await AuditLogTests.lines(proxy) { lines in
            lines.contains { $0["msg"] as? String == "request" && $0["credential"] as? String == "api_key" && $0["status"] as? Int == 403 }
        }
        let refusedByAllow = try #require(lines.first { $0["msg"] as? String == "request" && $0["credential"] as? String == "api_key" && $0["status"] as? Int == 403 })
        #expect(refusedByAllow["session"] as? String == ci.handle && refusedByAllow["sub"] as? String == "ci-bot")
        let log = (try? String(contentsOfFile: proxy.stdoutPath, encoding: .utf8)) ?? ""
        #expect(!log.contains(ci.key) && !log.contains(deployer.key), "never a key in the logs")
    }

    @Test func aRevokeOnOneInstanceRefusesTheKeyOnTheOther() async throws {
        try await RedisServerProcess.with { redis in
            let routes = Self.routes
            let a = try await BinaryHarness(store: "redis: { url: \"\(redis.url)\", key_prefix: \"reqkeys:\" }", routes: routes)
            try await a.start()
            defer { Task { await a.finish() } }
            let b = try await BinaryHarness(store: "redis: { url: \"\(redis.url)\", key_prefix: \"reqkeys:\" }", routes: routes)
            try await b.start()
            defer { Task { await b.finish() } }
            let made = try await Self.create(a, #"{"attributes":{"sub":"ci-bot"}}"#)
            #expect(try await Self.call(b, "/api/items", key: made.key).status == 200)
            #expect(b.backend.requests.last?.value("x-user-id") == "ci-bot")
            let revoke = try await a.cli(["keys", "revoke", "--key", made.handle])
            #expect(revoke.status == 0, "\(revoke.errors)")
            #expect(try await Self.call(b, "/api/items", key: made.key).status == 401, "refused on B at its next request")
        }
    }
}
