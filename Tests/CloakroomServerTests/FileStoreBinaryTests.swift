import Foundation
import Synchronization
import Testing

/// The file store through the real binary: sessions survive a clean restart and a `kill -9`
/// in the middle of a burst of logins; every login whose response arrived is still valid.
@Suite(.serialized) struct FileStoreBinaryTests {
    @Test func sessionsSurviveACleanRestart() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        defer { Task { await proxy.finish() } }
        try await proxy.start()
        let alice = try await proxy.login("alice")
        #expect(try await proxy.status(alice) == 200)
        try await proxy.stop()
        try await proxy.start()
        #expect(try await proxy.status(alice) == 200)
        #expect(proxy.backend.requests.last?.value("X-User-Id") == "alice")
    }

    @Test func killDuringABurstOfLoginsLosesNoAcknowledgedLogin() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        defer { Task { await proxy.finish() } }
        try await proxy.start()
        let base = proxy.base
        // 120 logins from 12 concurrent clients; the process is killed while they run, once a
        // few have been answered (however long that takes on a loaded machine).
        let answered = AnswerCount()
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<12 {
                group.addTask {
                    try await offPool {
                        var cookies: [String] = []
                        for attempt in 0..<10 {
                            guard let response = try? Curl.request("\(base)/login?sub=user\(client)-\(attempt)", ["--max-time", "5"]),
                                response.status == 200, let pair = response.header("set-cookie")?.split(separator: ";").first
                            else { continue }
                            cookies.append(String(pair))
                            answered.count.withLock { $0 += 1 }
                        }
                        return cookies
                    }
                }
            }
            // Watched and killed from a thread of its own: a sleeping task can wake late when
            // the cooperative pool is busy, and the burst be over by then.
            let pid = try #require(proxy.process?.processIdentifier)
            try await offPool {
                for _ in 0..<3_000 where answered.count.withLock({ $0 }) < 6 { usleep(10_000) }
                usleep(20_000)
                kill(pid, SIGKILL)
            }
            try await proxy.stop(signal: SIGKILL)
            var all: [String] = []
            for try await cookies in group { all += cookies }
            return all
        }
        #expect(!acknowledged.isEmpty, "some logins completed before the kill")
        #expect(acknowledged.count < 120, "the kill came in the middle of the burst")
        try await proxy.start()
        var lost: [String] = []
        for cookie in acknowledged where try await proxy.status(cookie) != 200 { lost.append(cookie) }
        #expect(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged logins were lost")
    }

    /// Found by an audit: a reload checked the database's first bytes, and closing that
    /// descriptor dropped SQLite's POSIX locks on the file. An operator's `sqlite3` that then
    /// read the file took itself for its only user and, closing, removed the write-ahead log:
    /// every later commit went to the removed file, acknowledged and lost at a crash.
    @Test func aReloadThenAnOperatorsReadLosesNoLaterLogin() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        defer { Task { await proxy.finish() } }
        try await proxy.start()
        let before = try await proxy.login("alice")
        let reload = try await Curl.get("\(proxy.admin)/reload", ["-X", "POST", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
        #expect(reload.status == 200, "\(reload.body)")
        #expect(try sqlite(proxy.databasePath, "SELECT count(*) FROM sessions") == "1", "the operator reads the file")
        let after = try await proxy.login("bob")
        try await proxy.stop(signal: SIGKILL)
        #expect(try sqlite(proxy.databasePath, "SELECT subject FROM sessions ORDER BY subject") == "alice\nbob")
        try await proxy.start()
        #expect(try await proxy.status(before) == 200)
        #expect(try await proxy.status(after) == 200, "the login acknowledged after the reload survived the crash")
    }

    @Test func aSecondServeOnTheSameFileIsRefused() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        defer { Task { await proxy.finish() } }
        try await proxy.start()
        let port = try freePort(), adminPort = try freePort()
        let config = try String(contentsOfFile: proxy.configPath, encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:\(proxy.port)", with: "127.0.0.1:\(port)")
            .replacingOccurrences(of: "127.0.0.1:\(proxy.adminPort)", with: "127.0.0.1:\(adminPort)")
        let second = proxy.directory.appendingPathComponent("second.yaml").path
        try config.write(toFile: second, atomically: true, encoding: .utf8)
        let run = try await proxy.cli(["serve", "--config", second])
        #expect(run.status == 1)
        #expect(run.errors.contains("session.store.file.path"), "\(run.errors)")
        #expect(run.errors.contains(proxy.databasePath), "\(run.errors)")
    }
}

private final class AnswerCount: Sendable {
    let count = Mutex(0)
}
