@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Testing

extension RedisServerTests {
    /// Session governance in Redis: the shared checks against a real redis-server, logins racing
    /// on two instances, and the grace that lets an expiry be seen before Redis drops the record.
    @Suite struct RedisStoreGovernanceTests {
        @Test(arguments: GovernanceConformance.Check.allCases)
        func governance(_ check: GovernanceConformance.Check) async throws {
            try await RedisServerProcess.with { redis in
                try await GovernanceConformance { clock, timeouts in
                    try RedisSessionStore(settings: try storeSettings(redis.url), timeouts: timeouts, clock: clock, logger: testLogger)
                }.run(check)
            }
        }

        /// Two instances sharing one Redis, each logging the same user in many times at once:
        /// the limit holds across them (the create script runs alone in Redis), every ending is
        /// reported once, by the instance whose login caused it, and announced to both.
        @Test func loginsRacingOnTwoInstancesNeverExceedTheLimit() async throws {
            try await RedisServerProcess.with { redis in
                let settings = try storeSettings(redis.url, poolSize: 8)
                let clock = ManualWallClock()
                try await withStore(try makeStore(settings, clock: clock)) { a in
                    try await withStore(try makeStore(settings, clock: clock)) { b in
                        let auditA = AuditRecorder(), auditB = AuditRecorder()
                        a.observeAudit { auditA.append($0) }
                        b.observeAudit { auditB.append($0) }
                        let heardByB = Locked<Set<SessionKey>>([])
                        b.observeEndings { ending in if case .session(let key) = ending { heardByB.withLock { _ = $0.insert(key) } } }
                        await b.waitUntilSubscribed()

                        let limit = 2, perInstance = 20
                        let keys = try await withThrowingTaskGroup(of: SessionKey.self) { group in
                            for index in 0..<(2 * perInstance) {
                                let store = index % 2 == 0 ? a : b
                                group.addTask {
                                    let key = StoreFixture.newKey()
                                    let context = SessionRequestContext(
                                        requestID: "login-\(index)", origin: SessionOrigin(client: "10.0.0.\(index)", userAgent: "racer"),
                                        maxPerUser: limit)
                                    _ = try await context.run { try await store.create(key: key, attributes: ["sub": "dana"]) }
                                    return key
                                }
                            }
                            var keys: [SessionKey] = []
                            for try await key in group { keys.append(key) }
                            return keys
                        }
                        #expect(try await a.sessions(subject: "dana").count == limit)
                        #expect(try await a.liveKeys(among: keys).count == limit)
                        let limitedA = auditA.all.filter { $0.event.kind == .ended(.limit) }
                        let limitedB = auditB.all.filter { $0.event.kind == .ended(.limit) }
                        #expect(limitedA.count + limitedB.count == 2 * perInstance - limit)
                        let handles = (limitedA + limitedB).map(\.event.handle)
                        #expect(Set(handles).count == handles.count, "each ending reported once")
                        #expect(await eventually(within: .seconds(2)) { heardByB.value.count == 2 * perInstance - limit })
                    }
                }
            }
        }

        /// Keys outlive the deadline by the grace, so the sweeper still finds the record, reports
        /// the ending, and deletes it; the store's own clock decides expiry all along.
        @Test func anExpiredRecordOutlivesItsDeadlineUntilTheSweepReportsIt() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url, prefix: "cr:"), clock: clock)) { store in
                    let audit = AuditRecorder()
                    store.observeAudit { audit.append($0) }
                    let key = StoreFixture.newKey()
                    let session = try await store.create(
                        key: key, attributes: ["sub": "alice"], origin: SessionOrigin(client: "198.51.100.5", userAgent: nil), maxPerUser: 0)
                    let deadline = Milliseconds.of(clock.now()) + 30 * 60 * 1000
                    #expect(try await redis.cli(["PEXPIRETIME", "cr:s:\(key.hex)"]) == "\(deadline + SessionScripts.grace)")
                    #expect(try await redis.cli(["HGET", "cr:s:\(key.hex)", "ip"]) == "198.51.100.5")
                    clock.advance(by: .minutes(31))
                    audit.reset()
                    #expect(try await store.sweep() == 1)
                    #expect(audit.all.map(\.event) == [SessionAuditEvent(kind: .ended(.idle), handle: session.handle, subject: "alice", client: "198.51.100.5")])
                    #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)"]) == "0")
                }
            }
        }
    }
}
