@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import NIOCore
import NIOPosix
import Testing

extension RedisServerTests {
    /// What the Redis store does beyond the shared conformance checks: how it lays sessions out in
    /// Redis, the TTLs that let Redis forget them alone, and housekeeping of its indexes.
    @Suite struct RedisSessionStoreTests {
        static let t0 = Int64(1_800_000_000_000)  // ManualWallClock's start, in ms
        static let idle = Int64(30 * 60 * 1000)

        /// The event-loop lookup the proxy uses answers exactly as the async one: live, expired,
        /// revoked, absent; and after SCRIPT FLUSH (NOSCRIPT takes the async path, which reloads).
        @Test func eventLoopLookupAnswersLikeLookup() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url), clock: clock)) { store in
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (key, session) = try await fixture.create("alice")
                    #expect(try await store.lookup(key: key, on: loop).get() == session)
                    #expect(try await store.lookup(key: SessionID.random().key, on: loop).get() == nil)

                    _ = try await redis.cli(["SCRIPT", "FLUSH"])
                    #expect(try await store.lookup(key: key, on: loop).get()?.handle == session.handle, "NOSCRIPT falls back")

                    let (other, _) = try await fixture.create("bob")
                    #expect(try await store.revoke(key: other))
                    #expect(try await store.lookup(key: other, on: loop).get() == nil)
                    clock.advance(by: .seconds(31 * 60))
                    #expect(try await store.lookup(key: key, on: loop).get() == nil, "expired by the injected clock")
                }
            }
        }

        /// With the connection's attributes cache: the same answers, and an update is seen at
        /// once (the cache compares the stored bytes, never just the key).
        @Test func eventLoopLookupWithTheAttributesCache() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url))) { store in
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    let cache = ParsedAttributesCache()
                    let key = SessionID.random().key
                    let session = try await store.create(key: key, attributes: ["sub": "alice", "role": "reader"])
                    for _ in 0..<3 { #expect(try await store.lookup(key: key, on: loop, cache: cache).get() == session) }
                    _ = try await store.update(key: key, patch: ["role": "admin"])
                    #expect(try await store.lookup(key: key, on: loop, cache: cache).get()?.attributes["role"] == "admin")
                    // The cache itself, on the bytes a reply carries.
                    let first = RESPValue.bulkString(ByteBuffer(string: #"{"sub":"a"}"#))
                    let second = RESPValue.bulkString(ByteBuffer(string: #"{"sub":"b"}"#))
                    #expect(try store.attributes(first, cache: cache)["sub"] == "a")
                    #expect(try store.attributes(first, cache: cache)["sub"] == "a")
                    #expect(try store.attributes(second, cache: cache)["sub"] == "b")
                    #expect(throws: (any Error).self) { try store.attributes(.bulkString(ByteBuffer(string: "[1]")), cache: cache) }
                }
            }
        }

        @Test func keysHoldTheHashOfTheIDNeverTheID() async throws {
            try await RedisServerProcess.with { redis in
                let settings = try storeSettings(redis.url, prefix: "cr:")
                try await withStore(try makeStore(settings)) { store in
                    let id = SessionID.random()
                    let session = try await store.create(key: id.key, attributes: ["sub": "alice", "email": "a@example.com"])
                    let keys = Set(try await redis.cli(["KEYS", "*"]).split(separator: "\n").map(String.init))
                    #expect(keys == ["cr:s:\(id.key.hex)", "cr:h:\(session.handle)", "cr:u:alice", "cr:expiries"])

                    // Nothing anywhere spells the ID, in hex or base64.
                    let dump = try await redis.cli(["HGETALL", "cr:s:\(id.key.hex)"]) + (try await redis.cli(["GET", "cr:h:\(session.handle)"]))
                        + (try await redis.cli(["SMEMBERS", "cr:u:alice"])) + (try await redis.cli(["ZRANGE", "cr:expiries", "0", "-1"]))
                    let idHex = id.bytes.map { String(format: "%02x", $0) }.joined()
                    #expect(!dump.contains(idHex))
                    #expect(!(keys.joined() + dump).contains(Data(id.bytes).base64EncodedString().prefix(20)))
                    #expect(dump.contains(id.key.hex))
                }
            }
        }

        /// Every key expires a grace after the session's deadline (or later, for shared indexes),
        /// so a Redis with no Cloakroom attached still forgets sessions, and a sweep or lookup
        /// sees an expiry first and reports it; a touch moves them all.
        @Test func ttlsFollowTheDeadlineAndMoveOnTouch() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let (key, session) = try await StoreFixture(store: store, clock: clock).create("alice")
                    func expiry(_ name: String) async throws -> Int64 {
                        Int64(try await redis.cli(["PEXPIRETIME", name]))!
                    }
                    let sessionKey = "cr:s:\(key.hex)", handleKey = "cr:h:\(session.handle)"
                    for name in [sessionKey, handleKey, "cr:u:alice", "cr:expiries"] {
                        #expect(try await expiry(name) == Self.t0 + Self.idle + SessionScripts.grace, "\(name)")
                    }
                    #expect(try await redis.cli(["ZSCORE", "cr:expiries", key.hex]) == "\(Self.t0 + Self.idle)")

                    clock.advance(by: .seconds(30))
                    _ = try await store.lookup(key: key)
                    #expect(try await expiry(sessionKey) == Self.t0 + Self.idle + SessionScripts.grace, "no write within the touch interval")
                    #expect(try await redis.cli(["HGET", sessionKey, "l"]) == "\(Self.t0)")

                    clock.advance(by: .seconds(30))
                    _ = try await store.lookup(key: key)
                    let moved = Self.t0 + 60_000 + Self.idle + SessionScripts.grace
                    for name in [sessionKey, handleKey, "cr:u:alice", "cr:expiries"] {
                        #expect(try await expiry(name) == moved, "\(name)")
                    }
                    #expect(try await redis.cli(["HGET", sessionKey, "l"]) == "\(Self.t0 + 60_000)")

                    // Kept active until near the absolute deadline, the TTL is capped by it.
                    for _ in 0..<35 {
                        clock.advance(by: .minutes(20))
                        _ = try #require(try await store.lookup(key: key))
                    }
                    #expect(try await expiry(sessionKey) == Self.t0 + 12 * 3600 * 1000 + SessionScripts.grace)
                }
            }
        }

        /// The store decides expiry by its clock: Redis still holds the key (its TTL is far away),
        /// but a lookup after the deadline finds nothing, and deletes the record and its index entries.
        @Test func expiredByTheClockIsGoneAndDeleted() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let (key, session) = try await StoreFixture(store: store, clock: clock).create("alice")
                    clock.advance(by: .minutes(30))
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)"]) == "1", "Redis has not expired it")
                    #expect(try await store.lookup(key: key) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)", "cr:h:\(session.handle)", "cr:u:alice"]) == "0")
                    #expect(try await redis.cli(["ZCARD", "cr:expiries"]) == "0")
                }
            }
        }

        /// A lookup reads with `HMGET` and writes nothing until the touch is due; then the
        /// script moves last-seen and the TTLs. A damaged record still goes to the script,
        /// which deletes it.
        @Test func lookupReadsWithoutWritingUntilTheTouchIsDue() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (key, created) = try await fixture.create("alice")
                    let ttl = try await redis.cli(["PEXPIRETIME", "cr:s:\(key.hex)"])
                    clock.advance(by: .seconds(30))
                    #expect(try await store.lookup(key: key)?.lastSeenAt == created.lastSeenAt)
                    #expect(try await redis.cli(["PEXPIRETIME", "cr:s:\(key.hex)"]) == ttl, "nothing written")
                    clock.advance(by: .seconds(31))
                    let touched = try #require(try await store.lookup(key: key))
                    #expect(touched.lastSeenAt > created.lastSeenAt)
                    #expect(try await redis.cli(["PEXPIRETIME", "cr:s:\(key.hex)"]) != ttl, "touched")

                    try await redis.cli(["HDEL", "cr:s:\(key.hex)", "u"])
                    #expect(try await store.lookup(key: key) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)"]) == "0", "the script deleted the damaged record")
                }
            }
        }

        /// After `SCRIPT FLUSH` (or a restart that lost the script cache), `EVALSHA` answers
        /// `NOSCRIPT` and the store falls back to `EVAL`, which caches the script again.
        @Test func scriptFlushFallsBackToEval() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (key, _) = try await fixture.create("alice")
                    // A lookup runs the script only when it must write: here, a touch that is due.
                    #expect(try await store.lookup(key: key) != nil)
                    #expect(try await redis.cli(["SCRIPT", "EXISTS", SessionScripts.lookup.sha1]) == "0", "a read needs no script")
                    clock.advance(by: .minutes(2))
                    #expect(try await store.lookup(key: key) != nil)
                    #expect(try await redis.cli(["SCRIPT", "EXISTS", SessionScripts.lookup.sha1]) == "1")

                    try await redis.cli(["SCRIPT", "FLUSH"])
                    #expect(try await redis.cli(["SCRIPT", "EXISTS", SessionScripts.lookup.sha1]) == "0")
                    clock.advance(by: .minutes(2))
                    #expect(try await store.lookup(key: key) != nil)
                    #expect(try await redis.cli(["SCRIPT", "EXISTS", SessionScripts.lookup.sha1]) == "1")

                    // The pipelined path too.
                    try await redis.cli(["SCRIPT", "FLUSH"])
                    let keys = [key] + (0..<1200).map { _ in StoreFixture.newKey() }
                    #expect(try await store.liveKeys(among: keys) == [key])
                    #expect(try await store.revokeAll(subject: "alice") == 1)
                    let stats = try await redis.cli(["INFO", "commandstats"])
                    #expect(stats.contains("cmdstat_eval:"), "EVAL was used")
                }
            }
        }

        @Test func revokeAllLeavesOtherDataAlone() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                // A prefix with glob characters: SCAN's pattern must match it literally.
                let mine = try makeStore(try storeSettings(redis.url, prefix: "cr[1]*:"), clock: clock)
                let neighbour = try makeStore(try storeSettings(redis.url, prefix: "cr1x:"), clock: clock)
                try await withStore(mine) { mine in
                    try await withStore(neighbour) { neighbour in
                        try await redis.cli(["SET", "app:config", "keep"])
                        try await redis.cli(["SET", "cr[1]*:notes", "keep"])  // under the prefix, but not a session
                        try await redis.cli(["HSET", "cr[1]*:sx", "f", "keep"])
                        let mineFixture = StoreFixture(store: mine, clock: clock)
                        // More than one SCAN batch, written concurrently.
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for i in 0..<2500 {
                                group.addTask { _ = try await mineFixture.create("user\(i % 50)") }
                            }
                            try await group.waitForAll()
                        }
                        let (theirs, _) = try await StoreFixture(store: neighbour, clock: clock).create("alice")

                        #expect(try await mine.revokeAll() == 2500)
                        #expect(try await mine.liveCount() == 0)
                        #expect(try await mine.sessions(subject: nil).isEmpty)
                        #expect(try await neighbour.lookup(key: theirs) != nil)
                        #expect(try await redis.cli(["GET", "app:config"]) == "keep")
                        #expect(try await redis.cli(["GET", "cr[1]*:notes"]) == "keep")
                        #expect(try await redis.cli(["HGET", "cr[1]*:sx", "f"]) == "keep")
                        let left = try await redis.cli(["KEYS", "cr\\[1\\]\\*:*"]).split(separator: "\n").sorted()
                        #expect(left == ["cr[1]*:notes", "cr[1]*:sx"], "no session, handle or user key is left")
                    }
                }
            }
        }

        /// Sessions Redis expired by itself leave index entries behind; listing, sweeping and
        /// logging in clean them up.
        @Test func staleIndexEntriesAreCleaned() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (gone, goneSession) = try await fixture.create("alice")
                    clock.advance(by: .minutes(20))
                    let (kept, _) = try await fixture.create("alice")
                    clock.advance(by: .minutes(11))  // past the first one's deadline
                    // What Redis's own expiry does at that deadline: the record and handle vanish,
                    // the indexes keep their entries.
                    try await redis.cli(["DEL", "cr:s:\(gone.hex)", "cr:h:\(goneSession.handle)"])
                    #expect(try await redis.cli(["SCARD", "cr:u:alice"]) == "2")
                    #expect(try await redis.cli(["ZCARD", "cr:expiries"]) == "2")

                    #expect(try await store.liveCount() == 1, "the dead entry's score is in the past")
                    #expect(try await store.sessions(subject: "alice").count == 1)
                    #expect(try await redis.cli(["SMEMBERS", "cr:u:alice"]) == kept.hex)
                    #expect(try await store.sweep() == 0, "the dead entry is dropped, uncounted: nobody saw it end")
                    #expect(try await redis.cli(["ZRANGE", "cr:expiries", "0", "-1"]) == kept.hex)

                    // A login prunes a few dead entries from the user's index too.
                    try await redis.cli(["SADD", "cr:u:alice", String(repeating: "ab", count: 32)])
                    try await fixture.create("alice")
                    #expect(try await redis.cli(["SISMEMBER", "cr:u:alice", String(repeating: "ab", count: 32)]) == "0")
                }
            }
        }

        @Test func manySessionsAcrossPagesAndBatches() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    var keys: [SessionKey] = []
                    for batch in 0..<3 {
                        keys += try await withThrowingTaskGroup(of: SessionKey.self) { group in
                            for i in 0..<400 { group.addTask { try await fixture.create("u\(batch)-\(i % 7)").key } }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        if batch < 2 { clock.advance(by: .minutes(10)) }
                    }
                    // Listing everyone takes several ZSCAN pages; no session twice, oldest first.
                    let everyone = try await store.sessions(subject: nil)
                    #expect(everyone.count == 1200)
                    #expect(Set(everyone.map(\.handle)).count == 1200)
                    #expect(everyone.map(\.createdAt) == everyone.map(\.createdAt).sorted())
                    #expect(try await store.liveKeys(among: keys).count == 1200)

                    clock.advance(by: .minutes(21))  // t0 + 41 min: the first 800 are past their idle deadline
                    #expect(try await store.liveKeys(among: keys).count == 400)
                    #expect(try await store.liveCount() == 400)
                    #expect(try await store.sweep() == 800, "two batches of 500 and a partial one")
                    #expect(try await store.sessions(subject: nil).count == 400)
                }
            }
        }

        @Test func damagedRecordsNeverCrash() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    // A record missing a field is not trusted: no session, and it is deleted.
                    let (partial, _) = try await fixture.create("alice")
                    try await redis.cli(["HDEL", "cr:s:\(partial.hex)", "c"])
                    #expect(try await store.lookup(key: partial) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(partial.hex)"]) == "0")

                    // Attributes that are not JSON: a damaged record, no session, deleted (the
                    // SPEC; it used to make every request with the cookie a 503).
                    let (garbled, _) = try await fixture.create("bob")
                    try await redis.cli(["HSET", "cr:s:\(garbled.hex)", "a", "{not json"])
                    #expect(try await store.lookup(key: garbled) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(garbled.hex)"]) == "0")

                    // Something else under a session's name: no session can be read from it.
                    let (clobbered, _) = try await fixture.create("carol")
                    try await redis.cli(["DEL", "cr:s:\(clobbered.hex)"])
                    try await redis.cli(["SET", "cr:s:\(clobbered.hex)", "a string"])
                    #expect(try await store.lookup(key: clobbered) == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(clobbered.hex)"]) == "0")
                    #expect(try await store.lookup(key: fixture.create("dave").key) != nil, "the store keeps working")
                }
            }
        }

        @Test func concurrentPatchesOfOneSessionAllApply() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url), clock: clock)) { store in
                    let (key, _) = try await StoreFixture(store: store, clock: clock).create("alice")
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in 0..<20 {
                            group.addTask { _ = try await store.update(key: key, patch: ["k\(i)": .number(Double(i))]) }
                        }
                        try await group.waitForAll()
                    }
                    let attributes = try #require(try await store.lookup(key: key)).attributes
                    #expect(attributes.count == 21, "every patch was merged on top of the others")
                }
            }
        }
    }
}
