import CloakroomConfig
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `max_connections` counts the connections that are open, however the exchanges that made
/// them ended.
@Suite(.serialized)
struct UpstreamSlotTests {
    /// Found by an audit: a request cancelled in the same write as its head (an HTTP/1.1
    /// request and the close, HTTP/2 HEADERS and RST_STREAM) ended its exchange while its
    /// upstream connection was being made; the connection, closed as soon as it came, kept its
    /// slot for good (NIO fires no `channelInactive` for a channel closed in its connect
    /// promise's callbacks), and once every slot was gone each request to the upstream got 502
    /// until a reload.
    @Test func requestsCancelledAsTheyAreSentFreeTheirSlots() async throws {
        let harness = try await ProxyHarness.start(threads: 2) { $0.upstreams["api"]?.maxConnections = 2 }
        defer { Task { await harness.stop() } }
        let port = harness.port
        try await offPool {
            for _ in 0..<30 {
                let fd = try connectLoopback(port: port)
                let request = Array("GET /public/x HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.close(fd)
            }
        }
        var bytes = HTTP2AbuseTests.preface
        for index in 0..<30 {
            let stream = UInt32(2 * index + 1)
            bytes += HTTP2AbuseTests.frame(type: 0x1, flags: 0x5, stream: stream, HTTP2AbuseTests.requestBlock)  // HEADERS
            bytes += HTTP2AbuseTests.frame(type: 0x3, stream: stream, [0, 0, 0, 0x8])  // RST_STREAM CANCEL
        }
        let cancelled = bytes
        _ = try await offPool { try RawSocket.exchangeUntilClosed(port: port, cancelled, timeout: 1) }
        try await Task.sleep(for: .milliseconds(300))
        for path in ["/public/a", "/public/b", "/public/c"] {
            let response = try await Curl.get("\(harness.base)\(path)")
            #expect(response.status == 200, "\(path): \(response.status) \(response.body)")
        }
    }

    /// Found by an audit: every reload gave each target another `max_connections`, the new
    /// pool knowing nothing of the connections its predecessor had lent out.
    @Test func aReloadKeepsCountingTheConnectionsOfEarlierExchanges() async throws {
        let source = ReloadTests.Source()
        let harness = try await ProxyHarness.start(
            adjust: { configuration in
                configuration.routes.insert(Route(path: "/slow", upstream: "api", auth: .none), at: 0)
                configuration.upstreams["api"]?.maxConnections = 1
                configuration.upstreams["api"]?.connectTimeout = .milliseconds(400)
                configuration.upstreams["api"]?.responseTimeout = .seconds(6)
            },
            configurationSource: { initial in { try source.read(initial: initial) } })
        defer { Task { await harness.stop() } }
        // Holds the only connection until its 504 (the backend never answers /slow), long
        // enough for the reload and the next request even on a loaded machine.
        async let held = Curl.get("\(harness.base)/slow")
        for _ in 0..<250 where harness.backend.requests.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await harness.server.reload() == .reloaded)
        let refused = try await Curl.get("\(harness.base)/public/x")
        #expect(refused.status == 502, "the pool is still full: \(refused.status)")
        let answered = try await held
        #expect(answered.status == 504, "\(answered.status) \(answered.body)")
        #expect(try await Curl.get("\(harness.base)/public/x").status == 200, "its slot is free again")
    }
}
