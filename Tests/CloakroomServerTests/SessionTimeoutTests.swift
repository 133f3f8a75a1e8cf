import CloakroomConfig
import CloakroomSessions
import Foundation
import Testing

/// The idle timeout as a user writes it in proxy.yaml: the session section parsed by the
/// loader, the proxy on a socket, time moved by a manual clock (a real-time test of a 2 s
/// timeout fails on a loaded machine, where a request can take longer than that).
@Suite(.serialized)
struct SessionTimeoutTests {
    /// `idle_timeout: 2s` alone is a working config (the unset `touch_interval` follows it), and
    /// so is a `touch_interval` as long as the idle timeout: either way a session used every half
    /// second stays alive well past 2 s, and one left alone for longer than 2 s is gone.
    @Test(arguments: ["idle_timeout: 2s", "idle_timeout: 2s\n  touch_interval: 2s"])
    func aSteadilyUsedSessionSlidesAndAnIdleOneEnds(_ session: String) async throws {
        let yaml = """
            listen: [{ address: "127.0.0.1:0" }]
            session:
              \(session)
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            """
        let parsed = try ConfigurationLoader.parse(yaml, environment: [:]).session
        let clock = ManualWallClock()
        let proxy = try await ProxyHarness.start(clock: clock) { configuration in
            configuration.session.idleTimeout = parsed.idleTimeout
            configuration.session.touchInterval = parsed.touchInterval
        }
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("ida")
        var statuses: [Int] = []
        for _ in 0..<8 {  // 4 s of use, twice the idle timeout
            clock.advance(by: .milliseconds(500))
            statuses.append(try await Curl.get("\(proxy.base)/api/me", ["-H", "Cookie: \(cookie)"]).status)
        }
        #expect(statuses == Array(repeating: 200, count: 8), "\(session): \(statuses)")
        clock.advance(by: .milliseconds(2_500))
        #expect(try await Curl.get("\(proxy.base)/api/me", ["-H", "Cookie: \(cookie)"]).status == 401, "idle for longer than idle_timeout")
    }
}
