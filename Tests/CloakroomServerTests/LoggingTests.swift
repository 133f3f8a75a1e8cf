import Foundation
import Testing

@Suite(.serialized) struct LoggingTests {
    /// Through login, use, update, backend logout, logout and errors, at trace level, no log
    /// line carries a session ID or any part of a cookie value.
    @Test func logsNeverContainSessionIDsOrCookies() async throws {
        let (logger, lines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(logger: logger)
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let other = try await proxy.login("alice")
        _ = try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/update", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/login?bad=1", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/logout-all", ["-H", "Cookie: \(other)"])
        _ = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"])
        let value = String(cookie.split(separator: "=", maxSplits: 1)[1])
        let parts = value.split(separator: ".").map(String.init) + [value]
        let log = lines.all
        #expect(log.contains { $0.contains("session created") }, "the capture works")
        for line in log {
            for part in parts { #expect(!line.contains(part), "leaked in: \(line)") }
            #expect(!line.contains("cloakroom_session="), "leaked in: \(line)")
        }
    }
}
