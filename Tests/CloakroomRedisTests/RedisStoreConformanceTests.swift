@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
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
