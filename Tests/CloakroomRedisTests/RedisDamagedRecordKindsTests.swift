@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import NIOPosix
import Testing

/// The kinds of damage a session record can have in Redis, as the commands that make it.
enum RedisDamage: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case createdNotANumber, lastSeenNotANumber, lastSeenNotAWholeNumber, subjectMissing, attributesNotJSON, notAHash

    var testDescription: String { rawValue }

    /// Whether Redis's scripts see the damage themselves. Attributes are JSON only to Swift:
    /// a script ends a record whose attributes alone are unreadable as any session (revoked,
    /// expired), and only a read (lookup, merge patch) finds it damaged.
    var seenByScripts: Bool { self != .attributesNotJSON }

    /// Whether the damaged record still names its handle, so that its handle key goes with it.
    var namesHandle: Bool { self != .notAHash }
    /// Whether the damaged record still names its user, so that its user index entry goes with
    /// it. (Without, the entry is dropped by the next listing of that user, or by a login.)
    var namesSubject: Bool { self != .notAHash && self != .subjectMissing }

    /// Damages the session under `key` as another program, a hand edit or a partial restore would.
    func apply(to key: SessionKey, prefix: String, in redis: RedisServerProcess) async throws {
        let record = "\(prefix)s:\(key.hex)"
        switch self {
        case .createdNotANumber: try await redis.cli(["HSET", record, "c", "notanumber"])
        case .lastSeenNotANumber: try await redis.cli(["HSET", record, "l", "notanumber"])
        case .lastSeenNotAWholeNumber: try await redis.cli(["HSET", record, "l", "1.7e12"])
        case .subjectMissing: try await redis.cli(["HDEL", record, "u"])
        case .attributesNotJSON: try await redis.cli(["HSET", record, "a", "{broken"])
        case .notAHash:
            try await redis.cli(["DEL", record])
            try await redis.cli(["SET", record, "a string"])
        }
    }
}

extension RedisServerTests {
    /// Every kind of damage goes the one damaged path (README "Damaged records"). Found by an
    /// audit: timestamps that are not numbers were deleted by the lookup script itself, with no
    /// log line, audit line or `damaged` count, and the handle key and user index entry left
    /// behind.
    @Suite struct RedisDamagedRecordKindsTests {
        /// ``DamagedRecordConformance``, the check the file store runs too.
        @Test(arguments: RedisDamage.allCases)
        func conformance(_ damage: RedisDamage) async throws {
            try await RedisServerProcess.with { redis in
                try await DamagedRecordConformance { clock in
                    let (logger, lines) = capturingLogger()
                    let store = try RedisSessionStore(
                        settings: try storeSettings(redis.url, prefix: "cr:"), timeouts: SessionStoreConformance.timeouts,
                        clock: clock, logger: logger)
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (alice, session) = try await fixture.create("alice")
                    let (bob, _) = try await fixture.create("bob")
                    try await damage.apply(to: alice, prefix: "cr:", in: redis)
                    return .init(
                        store: store, damaged: alice, handle: damage.namesHandle ? session.handle : nil, intact: bob,
                        logged: { lines.all })
                }.run()
            }
        }

        /// The lookup that finds it, on either path, deletes it with its expiry entry and with
        /// the handle key and user index entry it names.
        @Test(arguments: RedisDamage.allCases, [false, true])
        func theLookupDeletesItWithItsIndexEntries(_ damage: RedisDamage, onLoop: Bool) async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let (alice, session) = try await StoreFixture(store: store, clock: clock).create("alice")
                    try await damage.apply(to: alice, prefix: "cr:", in: redis)
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    let found = onLoop ? try await store.lookup(key: alice, on: loop).get() : try await store.lookup(key: alice)
                    #expect(found == nil)
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(alice.hex)"]) == "0")
                    #expect(try await redis.cli(["ZSCORE", "cr:expiries", alice.hex]) == "")
                    #expect(try await redis.cli(["EXISTS", "cr:h:\(session.handle)"]) == (damage.namesHandle ? "0" : "1"))
                    #expect(try await redis.cli(["SISMEMBER", "cr:u:alice", alice.hex]) == (damage.namesSubject ? "0" : "1"))
                }
            }
        }

        /// A damaged record found by a script other than a lookup's (a revoke of its user or of
        /// everyone, the sweep, a login under a per-user limit) goes the same way: deleted, logged
        /// and reported as one `damaged` ending. Listings skip it, and a key of another type
        /// under a session's name no longer makes them fail.
        @Test(arguments: RedisDamage.allCases.filter(\.seenByScripts))
        func everyScriptThatFindsItDeletesItTheSameWay(_ damage: RedisDamage) async throws {
            try await RedisServerProcess.with { redis in
                for path in ["revoke the user", "revoke everyone", "sweep", "log in under a limit"] {
                    let clock = ManualWallClock()
                    let (logger, lines) = capturingLogger()
                    let store = try RedisSessionStore(
                        settings: try storeSettings(redis.url, prefix: "cr:"), timeouts: SessionStoreConformance.timeouts,
                        clock: clock, logger: logger)
                    let audit = AuditRecorder()
                    store.observeAudit { audit.append($0) }
                    try await withStore(store) { store in
                        let fixture = StoreFixture(store: store, clock: clock)
                        let (alice, session) = try await fixture.create("alice")
                        try await fixture.create("bob")
                        try await damage.apply(to: alice, prefix: "cr:", in: redis)
                        #expect(try await store.sessions(subject: nil).map(\.subject) == ["bob"], "\(path)")
                        #expect(try await store.sessions(subject: "alice").isEmpty, "\(path)")
                        switch path {
                        case "revoke the user": #expect(try await store.revokeAll(subject: "alice") == 0)
                        case "revoke everyone": #expect(try await store.revokeAll() == 1, "bob")
                        case "sweep":
                            clock.advance(by: .minutes(31))
                            #expect(try await store.sweep() == 1, "bob, idle")
                        default:
                            let context = SessionRequestContext(requestID: "r", origin: .unknown, endReason: .login, maxPerUser: 2)
                            _ = try await context.run { try await fixture.create("alice") }
                        }
                        let damaged = audit.endings.filter { $0.reason == .damaged }
                        #expect(damaged.map(\.handle) == [damage.namesHandle ? session.handle : ""], "\(path)")
                        #expect(lines.all.filter { $0.hasPrefix("damaged session record deleted") }.count == 1, "\(path): \(lines.all)")
                        #expect(try await redis.cli(["EXISTS", "cr:s:\(alice.hex)"]) == "0", "\(path)")
                        #expect(try await redis.cli(["EXISTS", "cr:h:\(session.handle)"]) == (damage.namesHandle ? "0" : "1"), "\(path)")
                        #expect(try await store.lookup(key: alice) == nil, "\(path)")
                        #expect(audit.endings.filter { $0.reason == .damaged }.count == 1, "\(path): reported once")
                    }
                    try await redis.cli(["FLUSHALL"])
                }
            }
        }
    }
}
