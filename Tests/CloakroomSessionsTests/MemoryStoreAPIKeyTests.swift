import CloakroomSessions
import CloakroomStoreConformance
import Testing

/// API keys in the memory store: the shared checks, and the lookup that answers without
/// suspending.
@Suite struct MemoryStoreAPIKeyTests {
    @Test(arguments: APIKeyStoreConformance.Check.allCases)
    func apiKeys(_ check: APIKeyStoreConformance.Check) async throws {
        try await APIKeyStoreConformance { clock, timeouts in
            MemorySessionStore(maxSessions: 100, timeouts: timeouts, clock: clock)
        }.run(check)
    }

    @Test func immediateLookupAgreesWithTheAsyncOne() async throws {
        let clock = ManualWallClock()
        let store = MemorySessionStore(maxSessions: 10, timeouts: SessionStoreConformance.timeouts, clock: clock)
        let secret = APIKeySecret.random()
        let made = try store.createKeyNow(key: secret.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(1))
        let presented = try #require(APIKeySecret.key(presented: secret.text))
        #expect(try store.lookupKeyNow(key: presented)?.handle == made.handle)
        clock.advance(by: .hours(1))
        #expect(try store.lookupKeyNow(key: presented) == nil)
    }

    /// Keys never take a slot of `max_sessions`, so many keys never evict a session.
    @Test func keysDoNotCountTowardsMaxSessions() async throws {
        let store = MemorySessionStore(maxSessions: 1, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock())
        let session = SessionID.random().key
        _ = try await store.create(key: session, attributes: ["sub": "alice"])
        for _ in 0..<5 { _ = try await store.createKey(key: APIKeySecret.random().key, attributes: ["sub": "alice"], name: nil, ttl: .hours(1)) }
        #expect(try await store.lookup(key: session) != nil)
        #expect(store.count == 1)
    }
}
