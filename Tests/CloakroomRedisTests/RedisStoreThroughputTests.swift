@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

extension RedisServerTests {
    /// Lookups from many concurrent callers against a local redis-server. Prints the rate (run
    /// with `-c release` for a meaningful figure) and fails only far below any sane result, as
    /// with a Nagle delay or a lost pipelining, both of which cost orders of magnitude.
    @Suite struct RedisStoreThroughputTests {
        @Test func concurrentLookups() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                let store = try makeStore(try storeSettings(redis.url, poolSize: 8, commandTimeout: .seconds(2)), clock: clock)
                try await withStore(store) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let keys = try await withThrowingTaskGroup(of: SessionKey.self) { group in
                        for i in 0..<1000 {
                            group.addTask { try await fixture.create("user\(i % 100)", ["email": .string("user\(i)@example.com"), "roles": ["reader", "writer"]]).key }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    let callers = 64
                    let duration = Duration.seconds(2)
                    let deadline = ContinuousClock.now + duration
                    let lookups = try await withThrowingTaskGroup(of: Int.self) { group in
                        for caller in 0..<callers {
                            group.addTask {
                                var count = 0
                                var index = caller
                                while ContinuousClock.now < deadline {
                                    guard try await store.lookup(key: keys[index % keys.count]) != nil else {
                                        throw TestFailure("a live session was not found")
                                    }
                                    count += 1
                                    index += callers
                                }
                                return count
                            }
                        }
                        return try await group.reduce(0, +)
                    }
                    let rate = Double(lookups) / duration.timeInterval
                    print("redis store: \(lookups) lookups by \(callers) concurrent callers in \(duration): \(Int(rate)) lookups/s")
                    #expect(rate > 1000)
                }
            }
        }
    }
}
