@testable import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Synchronization
import Testing

@Suite struct MemorySessionStoreTests {
    static let timeouts = SessionStoreConformance.timeouts

    @Test(arguments: SessionStoreConformance.Check.allCases)
    func conformance(_ check: SessionStoreConformance.Check) async throws {
        try await SessionStoreConformance { clock, timeouts in
            MemorySessionStore(maxSessions: 10_000, timeouts: timeouts, clock: clock)
        }.run(check)
    }

    /// The same checks through the lookup requests use: `lookupNow` with a connection's cache.
    @Test(arguments: SessionStoreConformance.Check.allCases)
    func conformanceOfTheRequestLookup(_ check: SessionStoreConformance.Check) async throws {
        try await SessionStoreConformance(lookupPath: { ProductionLookupStore.immediate() }) { clock, timeouts in
            MemorySessionStore(maxSessions: 10_000, timeouts: timeouts, clock: clock)
        }.run(check)
    }

    /// Revocations are announced at once, so open tunnels need not wait for the liveness poll.
    @Test func announcesEveryLiveRevocation() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock())
        let heard = Mutex<[SessionEnding]>([])
        store.observeEndings { ending in heard.withLock { $0.append(ending) } }
        let a = SessionID.random().key, b = SessionID.random().key
        _ = try await store.create(key: a, attributes: ["sub": "alice"])
        let byHandle = try await store.create(key: b, attributes: ["sub": "bob"])
        #expect(try await store.revoke(key: a))
        #expect(try await store.revoke(key: a) == false, "nothing live: nothing announced")
        #expect(try await store.revoke(handle: byHandle.handle))
        _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "carol"])
        #expect(try await store.revokeAll(subject: "carol") == 1)
        #expect(try await store.revokeAll(subject: "nobody") == 0)
        _ = try await store.revokeAll()
        #expect(heard.withLock { $0 } == [.session(a), .session(b), .subject("carol"), .everyone])
    }

    /// A connection's cache of parsed attributes never serves stale or foreign attributes: an
    /// update, or another session on the same connection, is parsed afresh.
    @Test func parsedAttributesCacheFollowsUpdatesAndSessions() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: Self.timeouts, clock: ManualWallClock())
        let cache = ParsedAttributesCache()
        let a = SessionID.random().key, b = SessionID.random().key
        let alice = try await store.create(key: a, attributes: ["sub": "alice", "email": "a@example.com"])
        let bob = try await store.create(key: b, attributes: ["sub": "bob", "email": "b@example.com"])
        #expect(try store.lookupNow(key: a, cache: cache)?.attributes["email"] == "a@example.com")
        #expect(try store.lookupNow(key: a, cache: cache)?.handle == alice.handle)
        #expect(try store.lookupNow(key: b, cache: cache)?.attributes["email"] == "b@example.com")
        #expect(try store.lookupNow(key: b, cache: cache)?.handle == bob.handle)
        _ = try await store.update(key: b, patch: ["email": "new@example.com"])
        #expect(try store.lookupNow(key: b, cache: cache)?.attributes["email"] == "new@example.com")
        #expect(try store.lookupNow(key: a, cache: cache)?.attributes["email"] == "a@example.com")
        _ = try await store.revoke(key: a)
        #expect(try store.lookupNow(key: a, cache: cache) == nil)
    }

    @Test func evictsTheLeastRecentlyUsedAtCapacity() async throws {
        let clock = ManualWallClock()
        let store = MemorySessionStore(maxSessions: 3, timeouts: Self.timeouts, clock: clock)
        let fixture = StoreFixture(store: store, clock: clock)
        let (a, _) = try await fixture.create("a")
        let (b, _) = try await fixture.create("b")
        let (c, _) = try await fixture.create("c")
        // `a` is the oldest, but used since: `b` is now the least recently used.
        #expect(try store.lookupNow(key: a) != nil)
        let (d, _) = try await fixture.create("d")
        #expect(store.count == 3)
        #expect(try store.lookupNow(key: b) == nil, "b was the least recently used")
        #expect(try store.lookupNow(key: a) != nil)
        #expect(try store.lookupNow(key: c) != nil)
        #expect(try store.lookupNow(key: d) != nil)

        // Lookup order is now a, c, d: creating one more evicts a.
        try await fixture.create("e")
        #expect(try store.lookupNow(key: a) == nil)
        #expect(try await store.sessions(subject: nil).map(\.subject).sorted() == ["c", "d", "e"])
    }

    @Test func lookupWithinTheTouchIntervalStillCountsAsUse() async throws {
        let clock = ManualWallClock()
        let store = MemorySessionStore(maxSessions: 2, timeouts: Self.timeouts, clock: clock)
        let fixture = StoreFixture(store: store, clock: clock)
        let (a, _) = try await fixture.create("a")
        let (b, _) = try await fixture.create("b")
        #expect(try store.lookupNow(key: a) != nil)  // no write of last_seen_at, but a use
        try await fixture.create("c")
        #expect(try store.lookupNow(key: b) == nil)
        #expect(try store.lookupNow(key: a) != nil)
    }

    @Test func createUnderAnExistingKeyReplacesTheSession() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: Self.timeouts, clock: ManualWallClock())
        let key = SessionID.random().key
        let first = try await store.create(key: key, attributes: ["sub": "alice"])
        let second = try await store.create(key: key, attributes: ["sub": "bob"])
        #expect(store.count == 1)
        #expect(try store.lookupNow(key: key) == second)
        #expect(try await store.revoke(handle: first.handle) == false)
        #expect(try await store.sessions(subject: "alice").isEmpty)
    }

    @Test func asyncLookupMatchesLookupNow() async throws {
        let clock = ManualWallClock()
        let store = MemorySessionStore(maxSessions: 10, timeouts: Self.timeouts, clock: clock)
        let key = SessionID.random().key
        _ = try store.createNow(key: key, attributes: ["sub": "alice"])
        clock.advance(by: .minutes(2))
        let now = try store.lookupNow(key: key)
        #expect(try await store.lookup(key: key) == now)
        #expect(now?.lastSeenAt == clock.now())
    }

    @Test func sweepAndListingCoverEveryChunk() async throws {
        let clock = ManualWallClock()
        let total = MemorySessionStore.chunkSize * 2 + 10
        let store = MemorySessionStore(maxSessions: total, timeouts: Self.timeouts, clock: clock)
        var keys: [SessionKey] = []
        for i in 0..<total {
            let key = SessionID.random().key
            keys.append(key)
            _ = try store.createNow(key: key, attributes: ["sub": .string("u\(i % 7)")])
        }
        #expect(try await store.sessions(subject: nil).count == total)
        clock.advance(by: .minutes(20))
        // Keep every other one alive past the idle deadline of the rest.
        for key in keys.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
            _ = try store.lookupNow(key: key)
        }
        clock.advance(by: .minutes(10))
        #expect(try await store.sweep() == total / 2)
        #expect(store.count == total / 2)
        #expect(try await store.sessions(subject: nil).count == total / 2)
    }

    @Test func concurrentPatchesAreNotLost() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: Self.timeouts, clock: ManualWallClock())
        let key = SessionID.random().key
        _ = try store.createNow(key: key, attributes: ["sub": "alice"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask { _ = try await store.update(key: key, patch: .object(["k\(i)": .number(Double(i))])) }
            }
            try await group.waitForAll()
        }
        let attributes = try #require(try store.lookupNow(key: key)).attributes
        #expect(attributes.count == 65)
        #expect((0..<64).allSatisfy { attributes["k\($0)"] == .number(Double($0)) })
    }
}

@Suite struct MemoryProviderStoreTests {
    @Test(arguments: ProviderStoreConformance.Check.allCases)
    func providerConformance(_ check: ProviderStoreConformance.Check) async throws {
        try await ProviderStoreConformance { clock, timeouts in
            MemorySessionStore(maxSessions: 10_000, timeouts: timeouts, clock: clock)
        }.run(check)
    }
}
