@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import NIOCore
import NIOPosix
import Testing

extension RedisServerTests {
    /// The behaviour every store shares, against a real redis-server: one server per check, so
    /// each store starts empty and the checks run in parallel.
    @Suite struct RedisStoreConformanceTests {
        @Test(arguments: SessionStoreConformance.Check.allCases)
        func conformance(_ check: SessionStoreConformance.Check) async throws {
            try await RedisServerProcess.with { redis in
                try await SessionStoreConformance { clock, timeouts in
                    try RedisSessionStore(settings: try storeSettings(redis.url), timeouts: timeouts, clock: clock, logger: testLogger)
                }.run(check)
            }
        }

        /// The same checks through the lookup requests use: on an event loop, with a
        /// connection's attributes cache (used on that loop only, as in the server).
        @Test(arguments: SessionStoreConformance.Check.allCases)
        func conformanceOfTheRequestLookup(_ check: SessionStoreConformance.Check) async throws {
            try await RedisServerProcess.with { redis in
                let loop = MultiThreadedEventLoopGroup.singleton.next()
                try await SessionStoreConformance(lookupPath: {
                    let cache = LoopCache()
                    return { store, key in
                        guard let looped = store as? RedisSessionStore else { preconditionFailure("not a Redis store") }
                        return try await loop.flatSubmit { looped.lookup(key: key, on: loop, cache: cache.cache) }.get()
                    }
                }) { clock, timeouts in
                    try RedisSessionStore(settings: try storeSettings(redis.url), timeouts: timeouts, clock: clock, logger: testLogger)
                }.run(check)
            }
        }

        @Test(arguments: ProviderStoreConformance.Check.allCases)
        func providerConformance(_ check: ProviderStoreConformance.Check) async throws {
            try await RedisServerProcess.with { redis in
                try await ProviderStoreConformance { clock, timeouts in
                    try RedisSessionStore(settings: try storeSettings(redis.url), timeouts: timeouts, clock: clock, logger: testLogger)
                }.run(check)
            }
        }

        /// Two instances sharing one Redis: a logout token's `jti` used on one is refused on the other.
        @Test func replayGuardIsSharedByEveryInstance() async throws {
            try await RedisServerProcess.with { redis in
                let settings = try storeSettings(redis.url)
                let clock = ManualWallClock()
                let a = try RedisSessionStore(settings: settings, timeouts: SessionStoreConformance.timeouts, clock: clock, logger: testLogger)
                let b = try RedisSessionStore(settings: settings, timeouts: SessionStoreConformance.timeouts, clock: clock, logger: testLogger)
                let until = clock.now().addingTimeInterval(600)
                #expect(try await a.firstUse(of: "jti-shared", until: until))
                #expect(try await b.firstUse(of: "jti-shared", until: until) == false)
                try await a.close()
                try await b.close()
            }
        }

        /// The same checks over RESP3 (`HELLO 3`), on one server, each under its own key prefix.
        @Test func conformanceOverRESP3() async throws {
            try await RedisServerProcess.with { redis in
                try await SessionStoreConformance { clock, timeouts in
                    try RedisSessionStore(
                        settings: try storeSettings(redis.url, protocolVersion: .resp3), timeouts: timeouts, clock: clock, logger: testLogger
                    )
                }.runAll()
            }
        }
    }
}

/// A connection's attributes cache for the conformance checks: touched on one event loop only
/// (inside `loop.flatSubmit`), which is what makes it safe to share between their tasks.
final class LoopCache: @unchecked Sendable {
    let cache = ParsedAttributesCache()
}
