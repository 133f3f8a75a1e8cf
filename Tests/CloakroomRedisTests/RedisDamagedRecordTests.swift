@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import NIOCore
import NIOPosix
import Testing

extension RedisServerTests {
    /// A session hash whose attributes cannot be read (written by another program, a partial
    /// restore): every read path answers "no session" and deletes the record with its handle,
    /// index entries and expiry entry; a Redis that cannot be reached is still an error.
    @Suite struct RedisDamagedRecordTests {
        static let damage = ["not json", "{\"sub\":\"alice\",", "[1,2]", "{\"email\":\"a@example.com\"}", "{\"sub\":\"\"}", ""]

        /// `touchDue`: whether the lookup finds the session due for a touch, so that the
        /// lookup script (not the plain read) returns the attributes.
        @Test(arguments: damage, [false, true])
        func everyReadPathTreatsItAsNoSessionAndDeletesIt(_ attributes: String, touchDue: Bool) async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    let (bob, _) = try await fixture.create("bob")
                    for path in ["async", "event loop", "event loop with cache"] {
                        let (alice, session) = try await fixture.create("alice")
                        if touchDue { clock.advance(by: .seconds(90)) }
                        try await redis.cli(["HSET", "cr:s:\(alice.hex)", "a", attributes])
                        let found: Session?
                        switch path {
                        case "async": found = try await store.lookup(key: alice)
                        case "event loop": found = try await store.lookup(key: alice, on: loop).get()
                        default: found = try await store.lookup(key: alice, on: loop, cache: ParsedAttributesCache()).get()
                        }
                        #expect(found == nil, "\(path)")
                        #expect(try await redis.cli(["EXISTS", "cr:s:\(alice.hex)", "cr:h:\(session.handle)"]) == "0", "\(path): deleted")
                        #expect(try await redis.cli(["SISMEMBER", "cr:u:alice", alice.hex]) == "0", "\(path)")
                        #expect(try await redis.cli(["ZSCORE", "cr:expiries", alice.hex]) == "", "\(path)")
                        #expect(try await store.lookup(key: bob) != nil, "\(path): others untouched")
                    }
                }
            }
        }

        /// Something else under a session's name (`WRONGTYPE` for the read): no session can be
        /// read from it, on either lookup path; it is deleted.
        /// SPEC: every ending the proxy observes is an audit line: the deleted record too.
        @Test func theDeletedRecordIsAuditedAsDamaged() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"))) { store in
                    let audit = AuditRecorder()
                    store.observeAudit { audit.append($0) }
                    let fixture = StoreFixture(store: store, clock: ManualWallClock())
                    let (alice, session) = try await fixture.create("alice")
                    try await redis.cli(["HSET", "cr:s:\(alice.hex)", "a", "{broken"])
                    #expect(try await store.lookup(key: alice) == nil)
                    #expect(try await store.lookup(key: alice) == nil, "gone: no second line")
                    #expect(audit.endings.map(\.handle) == [session.handle])
                    #expect(audit.endings.map(\.reason) == [.damaged])
                }
            }
        }

        @Test func aKeyOfAnotherTypeIsNoSession() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"))) { store in
                    let fixture = StoreFixture(store: store, clock: ManualWallClock())
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    for onLoop in [false, true] {
                        let (key, _) = try await fixture.create("alice")
                        try await redis.cli(["DEL", "cr:s:\(key.hex)"])
                        try await redis.cli(["SADD", "cr:s:\(key.hex)", "x"])
                        let found = onLoop ? try await store.lookup(key: key, on: loop).get() : try await store.lookup(key: key)
                        #expect(found == nil)
                        #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)"]) == "0")
                    }
                }
            }
        }

        @Test func listingLeavesItOutAndUpdateFindsNoSession() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (alice, _) = try await fixture.create("alice")
                    let (other, _) = try await fixture.create("alice")
                    try await redis.cli(["HSET", "cr:s:\(alice.hex)", "a", "{broken"])
                    #expect(try await store.sessions(subject: "alice").count == 1)
                    #expect(try await store.sessions(subject: nil).count == 1)
                    #expect(try await store.update(key: alice, patch: ["a": 1]) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(alice.hex)"]) == "0")
                    #expect(try await store.update(key: other, patch: ["a": 1])?.attributes["a"] == 1)
                }
            }
        }

        /// A record changed between the failed read and the delete is left alone: the delete
        /// compares the attributes it read.
        @Test func theDeleteComparesWhatWasRead() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"))) { store in
                    let (alice, _) = try await StoreFixture(store: store, clock: ManualWallClock()).create("alice")
                    let stale = DamagedRedisRecord(
                        damage: DamagedSessionRecord("test"), handle: nil, attributes: .bulkString(ByteBuffer(string: "{old")))
                    await store.discardDamaged(key: alice, stale)
                    #expect(try await store.lookup(key: alice)?.subject == "alice")
                }
            }
        }

        @Test func anUnreachableRedisIsStillAnError() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"))) { store in
                    let (alice, _) = try await StoreFixture(store: store, clock: ManualWallClock()).create("alice")
                    await redis.kill()
                    await #expect(throws: SessionStoreError.self) { try await store.lookup(key: alice) }
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    await #expect(throws: SessionStoreError.self) { try await store.lookup(key: alice, on: loop).get() }
                }
            }
        }
    }
}
