import CloakroomConfig
import Foundation
import Glibc
import Logging
import Testing

/// A client that stops taking the response loses it after `client.body_timeout`, as with
/// nginx's `send_timeout` (found by an audit: such clients held their connections and the
/// upstream connections behind them forever, and 3 HTTP/2 connections of zero-window streams
/// used up `max_connections` for everyone).
@Suite(.serialized) struct SendTimeoutTests {
    static func start(accessLog: Logger? = nil) async throws -> ProxyHarness {
        try await ProxyHarness.start(accessLog: accessLog) { $0.client.bodyTimeout = .seconds(1) }
    }

    /// Waits up to `seconds` for `done`.
    static func eventually(_ seconds: Double, _ done: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return done()
    }

    @Test func anHTTP1ClientThatStopsReadingIsCutOff() async throws {
        let (accessLog, lines) = CapturingLogHandler.logger()
        let proxy = try await Self.start(accessLog: accessLog)
        defer { Task { await proxy.stop() } }
        let port = proxy.port
        let fd = try connectLoopback(port: port)
        defer { Glibc.close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let request = Array("GET /public/download?bytes=200000000 HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, request.count, Int32(MSG_NOSIGNAL)) }
        #expect(try await Self.eventually(5) { proxy.backend.requests.contains { $0.uri.hasPrefix("/public/download") } }, "the download started")
        // Never read: the proxy's socket fills, and after body_timeout the connection goes,
        // with the upstream connection behind it.
        #expect(try await Self.eventually(8) { proxy.backend.openConnections == 0 }, "the upstream connection was freed")
        // The proxy cut it: a timeout, not a client that left (found by an audit).
        let logged = try await ExchangeRecordTests.awaitLines(lines, count: 1)
        #expect(logged.first?["outcome"] == "timeout", "\(logged)")
    }

    /// Found by an audit: a client reading a download steadily but slowly was cut at
    /// `client.body_timeout`, the kernel having taken megabytes ahead and waking the proxy only
    /// once a third of them had drained. Here 5 MB at 700 KB/s against a 1 s limit.
    @Test func aSlowSteadyReaderIsNeverCut() async throws {
        let proxy = try await Self.start()
        defer { Task { await proxy.stop() } }
        let port = proxy.port
        let total = 5_000_000
        let received = try await offPool {
            let fd = try connectLoopback(port: port)
            defer { Glibc.close(fd) }
            let request = Array("GET /public/download?bytes=\(total) HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, request.count, Int32(MSG_NOSIGNAL)) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let started = Date()
            var received = 0
            var buffer = [UInt8](repeating: 0, count: 8192)
            while received < total {
                let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, 8192, 0) }
                guard count > 0 else { break }
                received += count
                let due = Double(received) / 700_000 - Date().timeIntervalSince(started)
                if due > 0 { Thread.sleep(forTimeInterval: due) }
            }
            return received
        }
        #expect(received >= total, "\(received) of \(total)+ bytes: cut while reading")
    }

    /// Found by an audit: each proxied request of a pipeline made the proxy read up to another
    /// megabyte of it, so a client that never read an answer had 500 MB read into memory within
    /// a second. Now the pipeline waits in the kernel's buffers: sending stalls after a few MB.
    @Test func aPipelineWhoseAnswersAreNotReadIsNotReadAhead() async throws {
        let proxy = try await ProxyHarness.start { configuration in
            configuration.routes.insert(Route(path: "/delay", upstream: "api", auth: .none), at: 0)
        }
        defer { Task { await proxy.stop() } }
        let port = proxy.port
        let accepted = try await offPool {
            let fd = try connectLoopback(port: port)
            defer { Glibc.close(fd) }
            var small: Int32 = 65536
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // Each answered 50 ms later: a slow upstream, as in the audit.
            let request = "GET /delay?ms=50 HTTP/1.1\r\nHost: a\r\nX-Pad: \(String(repeating: "p", count: 1000))\r\n\r\n"
            let batch = Array(String(repeating: request, count: 100).utf8)
            var sent = 0
            while sent < 64 << 20 {
                let written = batch.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, batch.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { break }  // the send timed out: nobody reads
                sent += written
            }
            return sent
        }
        #expect(accepted < 32 << 20, "\(accepted) bytes taken from a client that reads nothing")
    }

    @Test func anHTTP2StreamWhoseWindowStaysShutIsReset() async throws {
        let (accessLog, lines) = CapturingLogHandler.logger()
        let proxy = try await Self.start(accessLog: accessLog)
        defer { Task { await proxy.stop() } }
        let port = proxy.port
        // SETTINGS_INITIAL_WINDOW_SIZE 0: no DATA may be sent until a WINDOW_UPDATE that never comes.
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port, settings: [(0x4, 0)])
            HTTP2EndToEndTests.request(connection, 1, path: "/public/download?bytes=1000000")
            connection.read(timeout: 6) { _ in connection.responses[1]?.reset != nil }
            return connection
        }
        #expect(connection.responses[1]?.status == 200, "\(connection.frames)")
        #expect(connection.responses[1]?.reset == 0x8, "RST_STREAM CANCEL: \(connection.frames)")
        #expect(!connection.closed, "the connection goes on")
        #expect(try await Self.eventually(3) { proxy.backend.openConnections == 0 }, "the upstream connection was freed")
        // The proxy cut it: a timeout, as on HTTP/1.1 (found by an audit: `client_closed`).
        let logged = try await ExchangeRecordTests.awaitLines(lines, count: 1)
        #expect(logged.first?["outcome"] == "timeout", "\(logged)")
    }
}
