import CloakroomSessions
import Foundation
import HTTPTypes
import Logging
import Testing

@testable import CloakroomProxy

/// The admin API's API-key routes as plain Swift, over a real memory store and its manual
/// clock: create (ttl rules, the secret shown once), list (never the secret), revoke one, and
/// "log this user out everywhere" ending keys with sessions.
@Suite struct AdminAPIKeysTests {
    static let token = "admin-token-admin-token-admin-token-00"
    let fixture = PolicyFixture()
    var auth: String { "Bearer \(Self.token)" }

    func api(store: (any SessionStore)? = nil) -> AdminAPI {
        AdminAPI(
            store: store ?? fixture.store, token: Self.token, cookies: fixture.policy.cookies, logger: Logger(label: "test"),
            metrics: { "" })
    }

    func post(_ body: String, to api: AdminAPI? = nil) async -> AdminAPI.Response {
        await (api ?? self.api()).handle(.init(method: .post, target: "/api-keys", authorization: auth, body: Array(body.utf8)))
    }

    func object(_ response: AdminAPI.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
    }

    func listed(_ target: String = "/api-keys") async throws -> [[String: Any]] {
        try #require(try object(await api().handle(.init(method: .get, target: target, authorization: auth)))["keys"] as? [[String: Any]])
    }

    @Test func createShowsTheKeyOnceAndTheStoreFindsIt() async throws {
        let created = await post(#"{"attributes":{"sub":"ci-bot","team":"infra"},"name":"deploy","ttl":"12h"}"#)
        #expect(created.status == .created)
        let body = try object(created)
        #expect(Set(body.keys) == ["handle", "key"])
        let text = try #require(body["key"] as? String)
        #expect(text.hasPrefix("ck_") && text.count == 46)
        let key = try #require(APIKeySecret.key(presented: text))
        let stored = try #require(try await fixture.store.lookupKey(key: key))
        #expect(stored.handle == body["handle"] as? String)
        #expect(stored.name == "deploy" && stored.attributes == ["sub": "ci-bot", "team": "infra"])
        #expect(stored.expiresAt == stored.createdAt.addingTimeInterval(12 * 3600))
    }

    @Test func ttlDefaultsToNinetyDaysAndIsBounded() async throws {
        let created = try object(await post(#"{"attributes":{"sub":"ci-bot"}}"#))
        let key = try #require(try await fixture.store.apiKeys(subject: "ci-bot").first)
        #expect(key.handle == created["handle"] as? String)
        #expect(key.expiresAt.timeIntervalSince(key.createdAt) == 90 * 86_400)
        #expect(key.name == nil)
        #expect(await post(#"{"attributes":{"sub":"a"},"ttl":"365d"}"#).status == .created, "a year is allowed")
        #expect(await post(#"{"attributes":{"sub":"a"},"ttl":"1y"}"#).status == .created, "spelled as SPEC states the limit")
        for ttl in [#""366d""#, #""8761h""#, #""2y""#, #""y""#, #""1.5y""#, #""0s""#, #""-5d""#, #""90 days""#, "3600", "true"] {
            let refused = await post(#"{"attributes":{"sub":"a"},"ttl":"# + ttl + "}")
            #expect(refused.status == .badRequest, "ttl \(ttl)")
            #expect(try object(refused)["error"] as? String == "invalid_ttl")
            #expect((try object(refused)["message"] as? String)?.contains("ttl") == true)
        }
    }

    @Test func aSubjectIsRequired() async throws {
        for body in [#"{"attributes":{}}"#, #"{"attributes":{"sub":7}}"#, #"{"attributes":{"sub":""}}"#, #"{"attributes":{"sub":"a\u0007"}}"#] {
            let refused = await post(body)
            #expect(refused.status == .badRequest, "\(body)")
            #expect(try object(refused)["error"] as? String == "missing_sub")
            #expect((try object(refused)["message"] as? String)?.contains("without control characters") == true, "\(body)")
        }
        for body in ["", "[]", #"{"attributes":"ci"}"#, #"{"sub":"ci"}"#] {
            #expect(await post(body).status == .badRequest, "\(body)")
        }
        #expect(await post(#"{"attributes":{"sub":"ci"},"name":5}"#).status == .badRequest)
        #expect(try await fixture.store.apiKeys(subject: nil).count == 0)
    }

    @Test func listingNeverShowsTheKey() async throws {
        let created = try object(await post(#"{"attributes":{"sub":"ci-bot"},"name":"deploy"}"#))
        fixture.clock.advance(by: .seconds(1))
        _ = await post(#"{"attributes":{"sub":"other"}}"#)
        let all = try await listed()
        #expect(all.count == 2)
        let first = try #require(all.first)
        #expect(Set(first.keys) == ["handle", "sub", "name", "attributes", "created_at", "last_used_at", "expires_at"])
        #expect(first["handle"] as? String == created["handle"] as? String)
        #expect(first["sub"] as? String == "ci-bot" && first["name"] as? String == "deploy")
        #expect(first["last_used_at"] is NSNull, "never used yet")
        #expect((first["created_at"] as? String)?.hasSuffix("Z") == true)
        #expect(all[1]["name"] is NSNull)
        let mine = try await listed("/api-keys?user=ci-bot")
        #expect(mine.count == 1)
        #expect(try await listed("/api-keys?user=nobody").isEmpty)
        let text = try #require(created["key"] as? String)
        let everything = await api().handle(.init(method: .get, target: "/api-keys", authorization: auth)).body
        #expect(!everything.contains(text) && !everything.contains(String(text.dropFirst(3))))
        // Used once: listed with its time.
        _ = try await fixture.store.lookupKey(key: try #require(APIKeySecret.key(presented: text)))
        #expect(try await listed("/api-keys?user=ci-bot").first?["last_used_at"] as? String == all[1]["created_at"] as? String, "a second later")
    }

    @Test func revokeOneThenNotFound() async throws {
        let handle = try #require(try object(await post(#"{"attributes":{"sub":"ci-bot"}}"#))["handle"] as? String)
        let api = api()
        let revoked = await api.handle(.init(method: .delete, target: "/api-keys/\(handle)", authorization: auth))
        #expect(revoked.status == .noContent)
        #expect(revoked.contentType == nil && revoked.body.isEmpty, "a 204 has no content, so no Content-Type")
        #expect(await api.handle(.init(method: .delete, target: "/api-keys/\(handle)", authorization: auth)).status == .notFound)
        #expect(await api.handle(.init(method: .delete, target: "/api-keys/nope", authorization: auth)).status == .notFound)
        #expect(try await listed().isEmpty)
        #expect(await api.handle(.init(method: .put, target: "/api-keys", authorization: auth)).status == .methodNotAllowed)
        #expect(await api.handle(.init(method: .delete, target: "/api-keys", authorization: auth)).status == .methodNotAllowed)
        #expect(await api.handle(.init(method: .get, target: "/api-keys/a/b", authorization: auth)).status == .notFound)
        #expect(await api.handle(.init(method: .get, target: "/api-keys", authorization: nil)).status == .unauthorized)
        #expect(await api.handle(.init(method: .post, target: "/api-keys", authorization: "Bearer wrong")).status == .unauthorized)
    }

    @Test func revokingAUserEndsTheirKeysWithTheirSessions() async throws {
        _ = try await fixture.login(["sub": "alice"])
        _ = await post(#"{"attributes":{"sub":"alice"}}"#)
        _ = await post(#"{"attributes":{"sub":"alice"}}"#)
        _ = await post(#"{"attributes":{"sub":"bob"}}"#)
        let revoked = await api().handle(.init(method: .delete, target: "/users/alice/sessions", authorization: auth))
        #expect(revoked.body == #"{"revoked":3}"#)
        #expect(try await listed().map { $0["sub"] as? String } == ["bob"])
        // Everyone's sessions: keys stay.
        let everyone = await api().handle(.init(method: .delete, target: "/sessions", authorization: auth))
        #expect(everyone.status == .ok)
        #expect(try await listed().count == 1)
    }

    @Test func aFailingStoreIs503() async throws {
        let api = api(store: UnavailableKeyStore())
        for (method, target) in [(HTTPRequest.Method.post, "/api-keys"), (.get, "/api-keys"), (.delete, "/api-keys/AAAAAAAAAAAAAAAA")] {
            let response = await api.handle(.init(method: method, target: target, authorization: auth, body: Array(#"{"attributes":{"sub":"a"}}"#.utf8)))
            #expect(response.status == .serviceUnavailable, "\(method) \(target)")
        }
    }
}

/// A store that fails every call, keys included.
struct UnavailableKeyStore: SessionStore, APIKeyStore {
    let base = UnavailableStore()
    func createKey(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) async throws -> APIKey { throw base.fail() }
    func lookupKey(key: SessionKey) async throws -> APIKey? { throw base.fail() }
    func apiKeys(subject: String?) async throws -> [APIKey] { throw base.fail() }
    func revokeKey(handle: String) async throws -> Bool { throw base.fail() }
    func revokeKeys(subject: String) async throws -> Int { throw base.fail() }
    func create(key: SessionKey, attributes: JSONObject) async throws -> Session { throw base.fail() }
    func lookup(key: SessionKey) async throws -> Session? { throw base.fail() }
    func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> { throw base.fail() }
    func update(key: SessionKey, patch: JSONValue) async throws -> Session? { throw base.fail() }
    func revoke(key: SessionKey) async throws -> Bool { throw base.fail() }
    func revoke(handle: String) async throws -> Bool { throw base.fail() }
    func revokeAll(subject: String) async throws -> Int { throw base.fail() }
    func revokeAll() async throws -> Int { throw base.fail() }
    func sessions(subject: String?) async throws -> [Session] { throw base.fail() }
    func sweep() async throws -> Int { throw base.fail() }
    func liveCount() async throws -> Int { throw base.fail() }
    func updateTimeouts(_ timeouts: SessionTimeouts) {}
    func close() async throws {}
}
