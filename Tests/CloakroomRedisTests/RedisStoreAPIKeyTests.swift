@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Testing

extension RedisServerTests {
    /// API keys in Redis: the shared checks against a real redis-server, over RESP2 and RESP3;
    /// two instances sharing it, where a revoke on one is refused by the other at once (no
    /// cache); and keys untouched by a revoke of everyone's sessions on another instance.
    @Suite struct RedisStoreAPIKeyTests {
        @Test(arguments: APIKeyStoreConformance.Check.allCases)
        func apiKeys(_ check: APIKeyStoreConformance.Check) async throws {
            try await RedisServerProcess.with { redis in
                try await APIKeyStoreConformance { clock, timeouts in
                    try RedisSessionStore(settings: try storeSettings(redis.url), timeouts: timeouts, clock: clock, logger: testLogger)
                }.run(check)
            }
        }

        @Test func apiKeysOverRESP3() async throws {
            try await RedisServerProcess.with { redis in
                try await APIKeyStoreConformance { clock, timeouts in
                    try RedisSessionStore(
                        settings: try storeSettings(redis.url, protocolVersion: .resp3), timeouts: timeouts, clock: clock, logger: testLogger)
                }.runAll()
            }
        }

        @Test func aRevokeOnOneInstanceIsRefusedByAnotherAtItsNextLookup() async throws {
            try await RedisServerProcess.with { redis in
                let settings = try storeSettings(redis.url)
                let clock = ManualWallClock()
                let timeouts = SessionStoreConformance.timeouts
                let a = try RedisSessionStore(settings: settings, timeouts: timeouts, clock: clock, logger: testLogger)
                let b = try RedisSessionStore(settings: settings, timeouts: timeouts, clock: clock, logger: testLogger)
                let one = APIKeySecret.random(), two = APIKeySecret.random()
                let made = try await a.createKey(key: one.key, attributes: ["sub": "ci-bot"], name: "deploy", ttl: .hours(1))
                _ = try await a.createKey(key: two.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(1))
                #expect(try await b.lookupKey(key: one.key)?.handle == made.handle)
                #expect(try await b.apiKeys(subject: "ci-bot").count == 2)
                #expect(try await a.revokeKey(handle: made.handle))
                #expect(try await b.lookupKey(key: one.key) == nil, "revoked on a: refused on b at once")
                #expect(try await b.lookupKey(key: two.key) != nil)
                // Everyone's sessions revoked on b: a's keys stay; the user's keys revoked on b: gone on a.
                _ = try await a.create(key: SessionID.random().key, attributes: ["sub": "ci-bot"])
                #expect(try await b.revokeAll() == 1)
                #expect(try await a.lookupKey(key: two.key) != nil)
                #expect(try await b.revokeKeys(subject: "ci-bot") == 1)
                #expect(try await a.lookupKey(key: two.key) == nil)
                try await a.close()
                try await b.close()
            }
        }

        /// With `min_replicas` and no replica, creating a key is refused (503 at the admin
        /// API) and leaves nothing behind.
        @Test func creationWaitsForReplicas() async throws {
            try await RedisServerProcess.with { redis in
                var settings = try storeSettings(redis.url)
                settings.minReplicas = 1
                let store = try RedisSessionStore(
                    settings: settings, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock(), logger: testLogger)
                await #expect(throws: SessionStoreError.self) {
                    _ = try await store.createKey(key: APIKeySecret.random().key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(1))
                }
                #expect(try await store.apiKeys(subject: nil).isEmpty)
                try await store.close()
            }
        }
    }
}
