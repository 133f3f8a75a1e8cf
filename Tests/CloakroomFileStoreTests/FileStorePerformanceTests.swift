@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// Load and write throughput, with figures printed. Small by default so the suite stays quick;
/// `CLOAKROOM_FILESTORE_SESSIONS=1000000 swift test -c release --filter FileStorePerformance`
/// measures the start-up target (a million sessions serving within two seconds).
@Suite struct FileStorePerformanceTests {
    static let sessionCount = ProcessInfo.processInfo.environment["CLOAKROOM_FILESTORE_SESSIONS"].flatMap(Int.init) ?? 20_000

    @Test func opensManySessionsInOnePass() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let count = Self.sessionCount
            try await withStore(path, clock: clock) { store in
                try await seed(store, count: count, now: clock.now())
            }
            clock.advance(by: .minutes(1))
            let started = ContinuousClock.now
            let store = try await openStore(path, clock: clock)
            let elapsed = ContinuousClock.now - started
            print("file store: opened \(count) sessions in \(elapsed)")
            #expect(try await store.liveCount() == count)
            let user7 = try await store.sessions(subject: "user7")
            #expect(user7.count == count / 1000)
            #expect(user7.first?.attributes["roles"] == ["reader", "writer"])
            try await store.close()
        }
    }

    @Test func durableCreatesPerSecond() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let tasks = 200, perTask = 20
            try await withStore(path, clock: SystemWallClock()) { store async throws in
                let commitsBefore = store.commitCount
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for t in 0..<tasks {
                        group.addTask {
                            for _ in 0..<perTask {
                                let attributes: JSONObject = ["sub": .string("user\(t)"), "email": .string("user\(t)@example.com")]
                                _ = try await store.create(key: StoreFixture.newKey(), attributes: attributes)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = (ContinuousClock.now - started).timeInterval
                let commits = store.commitCount - commitsBefore
                let total = tasks * perTask
                print("file store: \(total) durable creates from \(tasks) tasks in \(elapsed) s "
                    + "(\(Int(Double(total) / elapsed))/s, \(commits) commits)")
                #expect(commits < total / 4)
                #expect(try await store.liveCount() == total)
            }
        }
    }
}
