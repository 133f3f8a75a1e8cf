import Foundation
import Testing

/// `client.header_timeout`, `client.body_timeout` and `client.idle_timeout` on the admin
/// listener, with raw sockets against the real binary (found by a black-box audit: an
/// incomplete head or body held an admin connection open forever).
@Suite(.serialized) struct AdminTimeoutTests {
    static let timeouts = """
        client:
          header_timeout: 400ms
          body_timeout: 400ms
          idle_timeout: 400ms
        """

    @Test func incompleteHeadIs408AndClosed() async throws {
        let proxy = try await BinaryHarness(extra: Self.timeouts)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let reply = try await RawSocket.sendUntilClosed(port: proxy.adminPort, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
        let answer = reply.text
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        for field in ["Content-Type: application/json", "X-Request-Id: ", "Connection: close"] {
            #expect(answer.contains("\r\n\(field)"), "spelled like the other answers' fields: \(answer)")
        }
        #expect(answer.hasSuffix("{\"error\":\"request_timeout\"}"), "\(answer)")
        #expect(reply.closedByServer, "closed by the header timeout, not the client's read timeout")
    }

    @Test func incompleteBodyIs408AndClosed() async throws {
        let proxy = try await BinaryHarness(extra: Self.timeouts)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let reply = try await RawSocket.sendUntilClosed(
            port: proxy.adminPort,
            "POST /sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(BinaryHarness.token)\r\nContent-Length: 100\r\n\r\n{")
        let answer = reply.text
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        #expect(answer.lowercased().contains("connection: close"), "\(answer)")
        #expect(answer.hasSuffix("{\"error\":\"request_timeout\"}"), "\(answer)")
        #expect(reply.closedByServer, "closed by the body timeout, not the client's read timeout")
    }

    /// Bytes that keep coming restart the body's clock: a body trickling in slower than the
    /// whole timeout, but never pausing for that long, is read and answered.
    @Test func aTricklingBodyIsNotCutOff() async throws {
        let proxy = try await BinaryHarness(extra: "client:\n  body_timeout: 2s\n")
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let answer = try await offPool {
            let fd = try connectLoopback(port: proxy.adminPort)
            defer { close(fd) }
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            send("POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\n")
            for byte in ["a", "b", "c", "d"] {
                usleep(700_000)  // 4 × 700 ms: longer than body_timeout in all, each gap far shorter
                send(byte)
            }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received.append(contentsOf: buffer[0..<n])
            }
            return String(decoding: received, as: UTF8.self)
        }
        #expect(!answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        #expect(answer.hasPrefix("HTTP/1.1 405"), "healthz takes no POST: the admin API answered \(answer)")
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() async throws {
        let proxy = try await BinaryHarness(extra: Self.timeouts)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let reply = try await RawSocket.sendUntilClosed(port: proxy.adminPort, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = reply.text
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        #expect(answer.components(separatedBy: "HTTP/1.1").count == 2, "no second response on an idle close: \(answer)")
        #expect(reply.closedByServer, "closed by the idle timeout, not the client's read timeout")
    }

    /// Pipelined requests are each answered; the idle clock of the first answer does not cut
    /// the second off.
    @Test func pipelinedRequestsAreAnswered() async throws {
        let proxy = try await BinaryHarness(extra: Self.timeouts)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let answer = try await RawSocket.send(
            port: proxy.adminPort,
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(BinaryHarness.token)\r\n\r\n"
                + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            timeout: 5)
        #expect(answer.components(separatedBy: "HTTP/1.1 200").count == 4, "\(answer)")
    }

    /// Malformed requests and one without Host get the JSON 400 with a request ID that every
    /// other admin error has (found by an audit: NIO's empty 400, and no Host was served).
    @Test(arguments: [
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\u{1b}b\r\n\r\n", "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "GET /healthz#x HTTP/1.1\r\nHost: x\r\n\r\n",
    ])
    func malformedRequestsGetTheJSON400(_ request: String) async throws {
        let proxy = try await BinaryHarness(extra: Self.timeouts)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let answer = try await RawSocket.send(port: proxy.adminPort, request, timeout: 5)
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
        #expect(answer.lowercased().contains("x-request-id: "), "\(answer)")
        #expect(answer.hasSuffix("{\"error\":\"bad_request\"}"), "\(answer)")
    }

    /// A body over the limit gets 413 with RFC 9110's phrase, as on the public listeners
    /// (found by an audit: `Payload Too Large` here, `Content Too Large` there).
    @Test func aBodyOverTheLimitIs413ContentTooLarge() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let size = 64 * 1024 + 1  // the admin API's limit, one byte past
        let request = "POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n" + String(repeating: "a", count: size)
        let answer = try await RawSocket.send(port: proxy.adminPort, request, timeout: 5)
        #expect(answer.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(answer)")
        #expect(answer.hasSuffix("{\"error\":\"body_too_large\"}"), "\(answer)")
    }
}

/// What the admin listener answers from a request's head alone, before its body: found by an
/// audit, it read any body to its end (gigabytes, a chunked one without end), even without
/// the token, and answered `Expect: 100-continue` with nothing.
@Suite(.serialized) struct AdminEarlyAnswerTests {
    @Test func aBodyIsReadOnlyForARequestThatMayBeServed() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let auth = "Authorization: Bearer \(BinaryHarness.token)\r\n"
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 256 << 10)
        for (head, expected) in [
            ("POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n\r\n", "HTTP/1.1 413"),
            ("POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n", "HTTP/1.1 401"),
            ("POST /sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 401"),
            ("POST /sessions HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 2000000000\r\n\r\n", "HTTP/1.1 413"),
            ("POST /sessions HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: chunked\r\n\r\n40000\r\n", "HTTP/1.1 413"),
        ] {
            let reply = try await offPool { try RawSocket.exchangeUntilClosed(port: proxy.adminPort, Array(head.utf8) + filler, timeout: 10) }
            #expect(reply.text.hasPrefix(expected), "\(head): \(reply.text.prefix(80))")
            #expect(reply.text.lowercased().contains("connection: close"), "\(reply.text.prefix(300))")
            #expect(reply.closedByServer)
        }
    }

    @Test func expectContinueIsAnswered() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let started = Date()
        let created = try await Curl.get(
            "\(proxy.admin)/sessions",
            ["-H", "Authorization: Bearer \(BinaryHarness.token)", "-H", "Expect: 100-continue", "--expect100-timeout", "20",
             "--data", #"{"attributes":{"sub":"e"}}"#])
        #expect(created.status == 201, "\(created.body)")
        #expect(Date().timeIntervalSince(started) < 10, "the 100 came, not curl's 20 s wait")
    }
}
