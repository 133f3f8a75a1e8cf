import CloakroomConfig
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Every exchange is one access-log line and one metrics record, however it ends, with its
/// outcome, the status sent (or the one that would have been) and the bytes written. Each test
/// ends exchanges one way and counts the lines.
@Suite(.serialized)
struct ExchangeRecordTests {
    /// The access log's request lines, by field.
    static func requestLines(_ lines: CapturingLogHandler.Lines) -> [[String: String]] {
        lines.all.filter { $0.hasPrefix("info request ") }.map { line in
            var fields: [String: String] = [:]
            for part in line.dropFirst("info request ".count).split(separator: " ") {
                let pair = part.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            return fields
        }
    }

    /// Waits until `count` request lines were logged (an ending may be recorded after the
    /// client saw it), then returns them.
    static func awaitLines(_ lines: CapturingLogHandler.Lines, count: Int) async throws -> [[String: String]] {
        for _ in 0..<100 {
            let found = requestLines(lines)
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(50))
        }
        return requestLines(lines)
    }

    static func start(adjust: (inout Configuration) -> Void = { _ in }) async throws -> (ProxyHarness, CapturingLogHandler.Lines) {
        let (accessLog, lines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(accessLog: accessLog, adjust: adjust)
        return (proxy, lines)
    }

    @Test func aCompleteExchangeAndLocalAnswers() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/x").status == 200)
        #expect(try await Curl.get("\(proxy.base)/api/x").status == 401)
        #expect(try await Curl.get("\(proxy.base)/echo/x").status == 200)
        let logged = try await Self.awaitLines(lines, count: 3)
        #expect(logged.count == 3)
        #expect(logged.map { $0["outcome"] } == ["complete", "complete", "complete"])
        #expect(logged.map { $0["status"] } == ["200", "401", "200"])
        #expect(logged[0]["bytes"] == "11", "the backend's {\"ok\":true}")
        #expect(logged[0]["upstream"] == "api")

        // What the proxy answers itself names no upstream (found by an audit: the callback
        // carried the catch-all route's): here the redirect of a bare route path.
        #expect(try await Curl.get("\(proxy.base)/public").status == 301)
        let redirect = try await Self.awaitLines(lines, count: 4)
        #expect(redirect.count == 4 && redirect[3]["status"] == "301" && redirect[3]["upstream"] == nil, "\(redirect)")
    }

    /// A request no route matches is logged with its path (found by a black-box audit: the
    /// 404's line had an empty one).
    @Test func aRequestNoRouteMatchesIsLoggedWithItsPath() async throws {
        let (proxy, lines) = try await Self.start { $0.routes = [Route(path: "/public/", upstream: "api", auth: .none)] }
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/nope/x?q=secret").status == 404)
        // A 413 for a declared body over the limit, its head read whole.
        let tooLarge = try await Curl.get("\(proxy.base)/public/up", ["-X", "POST", "-H", "Content-Length: 999999999999", "--max-time", "3"])
        #expect(tooLarge.status == 413)
        let logged = try await Self.awaitLines(lines, count: 2)
        #expect(logged.first?["status"] == "404")
        #expect(logged.first?["path"] == "/nope/x", "the path, never the query")
        // Both in a trace, as every request read whole is (found by an audit: they had none).
        #expect(logged.allSatisfy { ($0["trace_id"] ?? "").count == 32 }, "\(logged)")
    }

    @Test func aClientThatLeavesBeforeTheResponse() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        _ = try await RawSocket.send(port: proxy.port, "GET /public/slow HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 0.3)
        let logged = try await Self.awaitLines(lines, count: 1)
        #expect(logged.count == 1)
        #expect(logged.first?["outcome"] == "client_closed")
        #expect(logged.first?["status"] == "499")
    }

    /// A client that resets its connection mid-download left: `client_closed`, not the
    /// proxy's `error` (found by an audit: a failed write was counted as one).
    @Test func aClientThatResetsMidResponseLeft() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let received = try await offPool { () throws -> Int in
            let fd = try connectLoopback(port: proxy.port)
            let request = Array("GET /public/download?bytes=50000000 HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var received = 0
            while received < 200_000 {
                let count = Glibc.recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += count
            }
            var reset = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            Glibc.close(fd)
            return received
        }
        #expect(received >= 200_000)
        let logged = try await Self.awaitLines(lines, count: 1)
        #expect(logged.first?["outcome"] == "client_closed", "\(logged)")
        #expect(logged.first?["status"] == "200")
    }

    @Test func anUpstreamThatFailsBeforeOrDuringTheResponse() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let truncated = try await Curl.get("\(proxy.base)/public/truncated")
        #expect(truncated.body == "0123456789", "what was sent arrives, then the connection ends")
        let logged = try await Self.awaitLines(lines, count: 1)
        #expect(logged.first?["outcome"] == "upstream_failed")
        #expect(logged.first?["status"] == "200" && logged.first?["bytes"] == "10")
        await proxy.backend.stop()
        #expect(try await Curl.get("\(proxy.base)/public/x").status == 502)
        let both = try await Self.awaitLines(lines, count: 2)
        #expect(both.count == 2)
        #expect(both.last?["outcome"] == "upstream_failed" && both.last?["status"] == "502")
    }

    @Test func aTimeoutAndAMalformedRequest() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/slow").status == 504)
        let reply = try await RawSocket.send(port: proxy.port, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 400"))
        let garbage = try await RawSocket.send(port: proxy.port, "\u{1}\u{2} nonsense\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400"))
        let logged = try await Self.awaitLines(lines, count: 3)
        #expect(logged.count == 3)
        #expect(logged.map { $0["outcome"] } == ["timeout", "error", "error"])
        #expect(logged.map { $0["status"] } == ["504", "400", "400"])
        #expect(logged.map { $0["method"] } == ["GET", "POST", "GET"], "the method of the request line, GET when there is none")
    }

    /// A head that stops coming is logged with the time it was given, `client.header_timeout`
    /// (found by an audit: the line said the fraction of a millisecond the 408 took).
    @Test func aHeadThatStopsComingIsLoggedWithTheTimeItWasGiven() async throws {
        let (proxy, lines) = try await Self.start { $0.client.headerTimeout = .milliseconds(700) }
        defer { Task { await proxy.stop() } }
        let reply = try await RawSocket.send(port: proxy.port, "GET /public/x HTTP/1.1\r\nHost: a\r\n", timeout: 5)
        #expect(reply.hasPrefix("HTTP/1.1 408"), "\(reply)")
        let logged = try await Self.awaitLines(lines, count: 1)
        #expect(logged.first?["status"] == "408" && logged.first?["outcome"] == "timeout")
        let duration = Double(logged.first?["duration_ms"] ?? "") ?? 0
        #expect(duration >= 650 && duration < 5000, "\(logged)")
    }

    @Test func aSessionThatEndsDuringAResponseAndAnUpgrade() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let events = Task {
            try await offPool { try Curl.run(["-s", "-N", "--max-time", "10", "-H", "Cookie: \(cookie)", "\(proxy.base)/api/events"]) }
        }
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(cookie)"]).status == 204)
        let streamed = try await events.value
        #expect(streamed.contains("data: 1"))
        let second = try await proxy.login("bob")
        let socket = try await WebSocketTests.connect(proxy, cookie: second)
        #expect(socket.status == 101)
        // login, events, logout, login, upgrade
        let logged = try await Self.awaitLines(lines, count: 5)
        #expect(logged.count == 5)
        let byPath = Dictionary(logged.map { ($0["path"] ?? "", $0["outcome"] ?? "") }, uniquingKeysWith: { first, _ in first })
        #expect(byPath["/api/events"] == "session_ended")
        #expect(byPath["/ws"] == "upgraded")
        #expect(byPath["/logout"] == "complete")
    }

    /// Found by an audit: an ordinary response whose body came in a second read was cut to its
    /// head alone when a logout raced it. One that ends within the grace after its session's
    /// end is delivered whole; the events above, still streaming, are cut.
    @Test func aResponseEndingJustAfterItsSessionIsDeliveredWhole() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let response = Task { try await Curl.get("\(proxy.base)/api/head-first?ms=300", ["-H", "Cookie: \(cookie)"]) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(cookie)"]).status == 204)
        let answered = try await response.value
        #expect(answered.status == 200 && answered.body == "{\"late\":true}", "\(answered.status) \(answered.body)")
        let logged = try await Self.awaitLines(lines, count: 3)
        #expect(logged.first { $0["path"] == "/api/head-first" }?["outcome"] == "complete", "\(logged)")
    }

    /// One request ID, one line: nothing is logged twice when an exchange ends in two ways at
    /// once (the client leaves while the upstream fails).
    @Test func eachExchangeIsLoggedOnce() async throws {
        let (proxy, lines) = try await Self.start()
        defer { Task { await proxy.stop() } }
        for _ in 0..<5 { _ = try await Curl.get("\(proxy.base)/public/x") }
        _ = try await RawSocket.send(port: proxy.port, "GET /public/truncated HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 0.5)
        _ = try await RawSocket.send(port: proxy.port, "GET /public/slow HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 0.2)
        try await Task.sleep(for: .milliseconds(300))
        let logged = try await Self.awaitLines(lines, count: 7)
        let ids = logged.compactMap { $0["request_id"] }
        #expect(ids.count == 7 && Set(ids).count == 7, "\(logged)")
    }
}
