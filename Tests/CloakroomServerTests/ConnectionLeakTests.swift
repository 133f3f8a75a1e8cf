import Foundation
import Testing

/// Closed connections leave nothing behind: a handler that kept its channel context after the
/// connection closed held the handler, the context, the pipeline and the channel in a cycle,
/// about 2 KB per client connection and per upstream connection, forever.
@Suite(.serialized) struct ConnectionLeakTests {
    /// Resident memory of a process, in bytes.
    static func residentBytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }

    @Test func thousandsOfClosedConnectionsDoNotGrowTheProcess() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let pid = try #require(proxy.process?.processIdentifier)
        // Each exchange closes the client connection; every other one also closes the upstream
        // connection (the backend's `/close`), so both kinds of handler are made and dropped.
        func churn(_ count: Int) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<4 {
                    group.addTask {
                        for index in stride(from: lane, to: count, by: 4) {
                            let path = index % 2 == 0 ? "/public/x" : "/public/close"
                            let answer = try await RawSocket.send(port: proxy.port, "GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                            guard answer.hasPrefix("HTTP/1.1 200") else { throw LeakTestError.unexpected(answer) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await churn(1500)  // allocator arenas and pools reach their working size
        let before = try Self.residentBytes(pid)
        try await churn(4000)
        let after = try Self.residentBytes(pid)
        // Leaking, 4,000 connections (and 2,000 upstream ones) held about 10 MB.
        #expect(after - before < 3 * 1024 * 1024, "grew \((after - before) / 1024) KB over 4,000 connections")
    }

    /// The same for HTTP/2 (h2c): a connection handler, its streams, NIO's HTTP/2 handler and
    /// the timers of each closed connection are let go.
    @Test func thousandsOfClosedHTTP2ConnectionsDoNotGrowTheProcess() async throws {
        let proxy = try await BinaryHarness()
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let pid = try #require(proxy.process?.processIdentifier)
        let url = "http://127.0.0.1:\(proxy.port)/public/x"
        func churn(_ connections: Int) async throws {
            for _ in 0..<(connections / 100) {
                let result = try await offPool { try HTTP2EndToEndTests.run("/usr/bin/h2load", ["-n", "200", "-c", "100", "-m", "1", url]) }
                guard result.output.contains("200 succeeded") else { throw LeakTestError.unexpected(result.output) }
            }
        }
        try await churn(1000)
        let before = try Self.residentBytes(pid)
        try await churn(3000)
        let after = try Self.residentBytes(pid)
        #expect(after - before < 3 * 1024 * 1024, "grew \((after - before) / 1024) KB over 3,000 HTTP/2 connections")
    }

    enum LeakTestError: Error { case unexpected(String) }
}
