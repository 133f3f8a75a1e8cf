import CloakroomConfig
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Answers the proxy gives before it has read the whole request (413, 431, 408) reach a client
/// that is still sending: the proxy reads and drops what follows for a while before closing,
/// instead of closing with unread bytes, which makes the kernel reset the connection and the
/// client lose the answer (issue 26). And `client.body_timeout` ends a body that stalls.
@Suite(.serialized)
struct EarlyAnswerTests {
    enum SendError: Error { case failed(errno: Int32, afterBytes: Int) }

    /// Sends `head`, then `bodyBytes` bytes in pieces as fast as the socket takes them, then
    /// reads what the proxy answered, as an ordinary client does (curl, browsers): a send that
    /// fails because the proxy reset the connection is an error, the answer unread.
    static func sendThenRead(port: Int, head: String, bodyBytes: Int) throws -> String {
        let fd = try connectLoopback(port: port)
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let headBytes = Array(head.utf8)
        var sent = 0
        while sent < headBytes.count {
            let n = headBytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SendError.failed(errno: errno, afterBytes: sent) }
            sent += n
        }
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 65_536)
        sent = 0
        while sent < bodyBytes {
            let n = piece.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, bodyBytes - sent), Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SendError.failed(errno: errno, afterBytes: sent) }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = Glibc.recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func a413ReachesAClientStillSendingItsBody() async throws {
        let proxy = try await ProxyHarness.start { $0.client.maxBodyBytes = 1024 }
        defer { Task { await proxy.stop() } }
        let head = "POST /public/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 20000000\r\n\r\n"
        let answer = try await offPool { try Self.sendThenRead(port: proxy.port, head: head, bodyBytes: 8_000_000) }
        #expect(answer.hasPrefix("HTTP/1.1 413"), "got \(answer.prefix(80))")
        #expect(answer.contains("{\"error\":\"body_too_large\"}"))
        #expect(proxy.backend.requests.isEmpty)
    }

    @Test func a431ReachesAClientStillSendingItsHead() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let fields = (0..<100_000).map { "X-Field-\($0): \(String(repeating: "v", count: 40))\r\n" }.joined()
        let head = "GET /public/x HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n"  // about 5 MB
        let answer = try await offPool { try Self.sendThenRead(port: proxy.port, head: head, bodyBytes: 0) }
        #expect(answer.hasPrefix("HTTP/1.1 431"), "got \(answer.prefix(80))")
    }

    @Test func aStalledBodyIs408AndTheExchangeIsRecordedAsATimeout() async throws {
        let (accessLog, lines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(accessLog: accessLog) { $0.client.bodyTimeout = .milliseconds(400) }
        defer { Task { await proxy.stop() } }
        let reply = try await RawSocket.sendUntilClosed(
            port: proxy.port, "POST /public/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        let answer = reply.text
        #expect(answer.hasPrefix("HTTP/1.1 408"), "got \(answer.prefix(80))")
        #expect(answer.contains("\r\nConnection: close\r\n"), "\(answer)")
        #expect(reply.closedByServer, "closed by the body timeout, not the client's read timeout")
        let logged = try await ExchangeRecordTests.awaitLines(lines, count: 1)
        #expect(logged.first?["outcome"] == "timeout" && logged.first?["status"] == "408")
    }

    /// A body that keeps coming, however slowly, is not timed out: the clock restarts at each read.
    @Test func aSlowButSteadyBodyIsNotTimedOut() async throws {
        let proxy = try await ProxyHarness.start { $0.client.bodyTimeout = .milliseconds(600) }
        defer { Task { await proxy.stop() } }
        let answer = try await offPool { () throws -> String in
            let fd = try connectLoopback(port: proxy.port)
            defer { Glibc.close(fd) }
            func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            send("POST /public/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\n")
            for byte in ["a", "b", "c", "d", "e", "f"] {
                usleep(300_000)
                send(byte)
            }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            var received: [UInt8] = []
            while true {
                let n = Glibc.recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received.append(contentsOf: buffer[0..<n])
            }
            return String(decoding: received, as: UTF8.self)
        }
        #expect(answer.hasPrefix("HTTP/1.1 200"), "got \(answer.prefix(80))")
        #expect(answer.contains("{\"received\":6}"))
    }
}
