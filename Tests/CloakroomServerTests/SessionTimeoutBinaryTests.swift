import Foundation
import Testing

/// The idle timeout as a user configures it: the real binary, real time, short timeouts.
@Suite(.serialized)
struct SessionTimeoutBinaryTests {
    /// `idle_timeout: 2s` alone is a working config (the unset `touch_interval` follows it), and
    /// so is a `touch_interval` as long as the idle timeout: either way a session used every half
    /// second stays alive well past 2 s, and one left alone for longer than 2 s is gone.
    @Test(arguments: ["idle_timeout: 2s", "idle_timeout: 2s\ntouch_interval: 2s"])
    func aSteadilyUsedSessionSlidesAndAnIdleOneEnds(_ session: String) async throws {
        let proxy = try await BinaryHarness(session: session)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let cookie = try await proxy.login("ida")
        var statuses: [Int] = []
        for _ in 0..<8 {  // 4 s of use, twice the idle timeout
            try await Task.sleep(for: .milliseconds(500))
            statuses.append(try await proxy.status(cookie))
        }
        #expect(statuses == Array(repeating: 200, count: 8), "\(session): \(statuses)")
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(try await proxy.status(cookie) == 401, "idle for longer than idle_timeout")
    }
}
