@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

extension RedisServerTests {
    /// The refresh lease (``ProviderSessionStore/leaseRefresh(key:for:)``) between two stores on
    /// one Redis, as two Cloakroom instances see it: one holder at a time, a lapsed lease free
    /// for the taking, and a release that never deletes a lease someone else took since.
    @Suite struct RedisRefreshLeaseTests {
        /// Two stores (two instances) sharing a server and a prefix.
        func withTwoStores(_ body: (RedisServerProcess, RedisSessionStore, RedisSessionStore, String) async throws -> Void) async throws {
            try await RedisServerProcess.with { redis in
                let prefix = uniquePrefix()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: prefix))) { a in
                    try await withStore(try makeStore(try storeSettings(redis.url, prefix: prefix))) { b in
                        try await body(redis, a, b, prefix)
                    }
                }
            }
        }

        @Test func oneHolderAtATimeUntilReleased() async throws {
            try await withTwoStores { redis, a, b, prefix in
                let id = SessionID.random()
                let key = id.key
                let held = try #require(try await a.leaseRefresh(key: key, for: .seconds(10)))
                #expect(try await b.leaseRefresh(key: key, for: .seconds(10)) == nil, "held by the other instance")
                #expect(try await a.leaseRefresh(key: key, for: .seconds(10)) == nil, "held, even for the same instance")
                #expect(try await b.leaseRefresh(key: SessionID.random().key, for: .seconds(10)) != nil, "another session's lease is free")

                // In Redis: named by the key's hex, holding the holder, with a TTL; never the ID.
                let name = prefix + "refresh:" + key.hex
                #expect(try await redis.cli(["GET", name]).trimmingCharacters(in: .whitespacesAndNewlines) == held.holder)
                let ttl = Int(try await redis.cli(["PTTL", name]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
                #expect(ttl > 9_000 && ttl <= 10_000, "PTTL \(ttl)")
                let idHex = id.bytes.map { String(format: "%02x", $0) }.joined()
                #expect(!(try await redis.cli(["KEYS", "*"])).contains(idHex))

                // A release by a holder that does not hold it deletes nothing.
                let stranger = RefreshLease(key: key)
                try await b.releaseRefresh(stranger)
                #expect(try await b.leaseRefresh(key: key, for: .seconds(10)) == nil)

                try await a.releaseRefresh(held)
                let taken = try #require(try await b.leaseRefresh(key: key, for: .seconds(10)), "granted again once released")
                #expect(try await a.leaseRefresh(key: key, for: .seconds(10)) == nil)
                try await b.releaseRefresh(taken)
                #expect(try await a.leaseRefresh(key: key, for: .seconds(10)) != nil)
            }
        }

        @Test func aLapsedLeaseIsTakenAndTheOldHoldersReleaseLeavesIt() async throws {
            try await withTwoStores { redis, a, b, prefix in
                let key = SessionID.random().key
                let old = try #require(try await a.leaseRefresh(key: key, for: .milliseconds(200)))
                #expect(try await b.leaseRefresh(key: key, for: .seconds(10)) == nil)
                var new: RefreshLease?
                let lapsed = await eventually(within: .seconds(2)) {
                    new = try? await b.leaseRefresh(key: key, for: .seconds(10))
                    return new != nil
                }
                #expect(lapsed, "Redis dropped the lease after its lifetime")
                let taken = try #require(new)
                #expect(taken.holder != old.holder)

                try await a.releaseRefresh(old)  // late: the lease is b's now
                let name = prefix + "refresh:" + key.hex
                #expect(try await redis.cli(["GET", name]).trimmingCharacters(in: .whitespacesAndNewlines) == taken.holder)
                #expect(try await a.leaseRefresh(key: key, for: .seconds(10)) == nil, "still held by the new holder")
                try await b.releaseRefresh(taken)
                #expect(try await a.leaseRefresh(key: key, for: .seconds(10)) != nil)
            }
        }

        @Test func anUnreachableRedisIsAStoreFailureNotAGrantedLease() async throws {
            let port = try await RedisServerProcess.with { $0.port }  // nothing listens there now
            try await withStore(try makeStore(try storeSettings("redis://127.0.0.1:\(port)/0"))) { store in
                let key = SessionID.random().key
                await #expect(throws: SessionStoreError.self) { _ = try await store.leaseRefresh(key: key, for: .seconds(10)) }
                await #expect(throws: SessionStoreError.self) { try await store.releaseRefresh(RefreshLease(key: key)) }
            }
        }
    }
}
