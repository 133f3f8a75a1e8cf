import CloakroomConfig
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// HTTP/2 against the real proxy on a socket, in front of real backends: raw frames for what
/// a conforming client would not send, curl, nghttp and h2load for what real clients do. The
/// defects of issue 20, each as a client sees it.
@Suite(.serialized)
struct HTTP2EndToEndTests {
    static let refusedStream: UInt32 = 0x7, protocolError: UInt32 = 0x1

    static func request(_ connection: RawHTTP2Connection, _ stream: UInt32, path: String, method: String = "GET", extra: [(String, String)] = [], open: Bool = false) {
        let fields = RawHTTP2Client.requestFields(method: method, path: path, authority: "127.0.0.1", scheme: "http", extra: extra)
        connection.send(connection.client.headers(stream, fields, end: !open).bytes)
    }

    static func run(_ path: String, _ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        let input = Pipe()
        if stdin != nil { process.standardInput = input }
        try process.run()
        if let stdin {
            try input.fileHandleForWriting.write(contentsOf: stdin)
            try input.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    // MARK: Stream errors stay stream errors

    @Test func aMalformedStreamLeavesTheOthersInFlight() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let port = harness.port
        let before = harness.backend.requests.count
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            Self.request(connection, 1, path: "/public/delay")
            Self.request(connection, 3, path: "/public/bad", extra: [("connection", "keep-alive")])
            Self.request(connection, 5, path: "/public/x", extra: [("x-a", "trailing ")])
            connection.read(timeout: 5) { _ in connection.responses[1]?.ended == true }
            return connection
        }
        let responses = connection.responses
        #expect(responses[3]?.reset == Self.protocolError)
        #expect(responses[5]?.reset == Self.protocolError)
        #expect(responses[1]?.status == 200, "the stream in flight finished: \(connection.frames)")
        #expect(responses[1]?.text == "{\"delayed\":true}")
        #expect(connection.goAway == nil && !connection.closed)
        #expect(harness.backend.requests.count == before + 1, "nothing of the malformed streams forwarded")
    }

    @Test func streamsPastTheLimitAreRefusedAndTheOthersServed() async throws {
        let harness = try await ProxyHarness.start { $0.client.maxConcurrentStreams = 2 }
        defer { Task { await harness.stop() } }
        let port = harness.port
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            connection.read(timeout: 1) { $0.contains { $0.type == RawFrame.Kind.settings && $0.flags == 0 } }
            for stream: UInt32 in [1, 3, 5, 7] { Self.request(connection, stream, path: "/public/delay") }
            connection.read(timeout: 5) { _ in connection.responses[1]?.ended == true && connection.responses[3]?.ended == true }
            return connection
        }
        let settings = connection.frames.first { $0.type == RawFrame.Kind.settings && $0.flags == 0 }
        #expect(settings?.settings.first { $0.0 == 0x3 }?.1 == 2)
        #expect(connection.responses[5]?.reset == Self.refusedStream)
        #expect(connection.responses[7]?.reset == Self.refusedStream)
        #expect(connection.responses[1]?.status == 200 && connection.responses[3]?.status == 200)
        #expect(connection.goAway == nil && !connection.closed)
    }

    // MARK: Client timeouts

    @Test func idleAndSilentConnectionsAreClosedWithGoAway() async throws {
        let harness = try await ProxyHarness.start {
            $0.client.idleTimeout = .milliseconds(600)
            $0.client.headerTimeout = .milliseconds(900)
        }
        defer { Task { await harness.stop() } }
        let port = harness.port
        // The client waits 30 s: only the server's timeouts can close these connections sooner.
        let silent = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            connection.read(timeout: 30)
            return connection
        }
        #expect(silent.closed && silent.goAway?.errorCode == 0, "a connection that sends no request is closed")
        let (idle, idleTime) = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            Self.request(connection, 1, path: "/public/x")
            connection.read(timeout: 10) { _ in connection.responses[1]?.ended == true }
            let started = Date()
            connection.read(timeout: 30)
            return (connection, Date().timeIntervalSince(started))
        }
        #expect(idle.responses[1]?.status == 200)
        #expect(idle.closed && idle.goAway?.lastStreamID == 1, "\(idle.frames)")
        #expect(idleTime > 0.3, "idle_timeout after the last stream: \(idleTime) s")
    }

    @Test func aHeaderBlockWithoutEndHeadersIsCutAtHeaderTimeout() async throws {
        let harness = try await ProxyHarness.start {
            $0.client.headerTimeout = .milliseconds(500)
            $0.client.idleTimeout = .seconds(60)
        }
        defer { Task { await harness.stop() } }
        let port = harness.port
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            Self.request(connection, 1, path: "/public/x")
            connection.read(timeout: 10) { _ in connection.responses[1]?.ended == true }
            let fields = RawHTTP2Client.requestFields(path: "/public/y", authority: "127.0.0.1", scheme: "http")
            connection.send(connection.client.headers(3, fields, end: true, endHeaders: false).bytes)
            connection.read(timeout: 30)  // far below idle_timeout: only the header timeout can close it
            return connection
        }
        #expect(connection.closed && connection.goAway?.lastStreamID == 1)
    }

    @Test func aStalledRequestBodyGets408AndOnlyItsStreamEnds() async throws {
        let harness = try await ProxyHarness.start { $0.client.bodyTimeout = .milliseconds(500) }
        defer { Task { await harness.stop() } }
        let port = harness.port
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            Self.request(connection, 1, path: "/public/upload", method: "POST", extra: [("content-length", "10")], open: true)
            connection.send(RawFrame.data(1, [1, 2, 3]).bytes)
            connection.read(timeout: 5) { _ in connection.responses[1]?.reset != nil }
            Self.request(connection, 3, path: "/public/x")
            connection.read(timeout: 2) { _ in connection.responses[3]?.ended == true }
            return connection
        }
        let stalled = try #require(connection.responses[1])
        #expect(stalled.status == 408)
        #expect(stalled.text == "{\"error\":\"request_timeout\"}")
        #expect(stalled.frames == ["HEADERS", "DATA+END", "RST=0"])
        #expect(connection.responses[3]?.status == 200)
        #expect(!connection.closed)
    }

    /// RFC 9113 §8.1.1 / SPEC "malformed request → 400": DATA that does not add up to the
    /// request's content-length (fewer bytes, more, none at all) gets a 400 the client can read,
    /// then RST_STREAM PROTOCOL_ERROR; the backend never gets a whole request, and the connection
    /// serves on. (NIO used to reset these streams with no answer.)
    @Test func aBodyThatBreaksItsContentLengthGets400ThenTheReset() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let port = harness.port
        let cases: [(UInt32, String, [UInt8]?)] = [(1, "10", [1, 2, 3]), (3, "2", [1, 2, 3]), (5, "5", nil)]
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            for (stream, length, body) in cases {
                Self.request(connection, stream, path: "/public/upload", method: "POST", extra: [("content-length", length)], open: body != nil)
                if let body { connection.send(RawFrame.data(stream, body, end: true).bytes) }
            }
            connection.read(timeout: 5) { _ in cases.allSatisfy { connection.responses[$0.0]?.reset != nil } }
            Self.request(connection, 7, path: "/public/x")
            connection.read(timeout: 2) { _ in connection.responses[7]?.ended == true }
            return connection
        }
        for (stream, length, _) in cases {
            let response = try #require(connection.responses[stream], "content-length \(length)")
            #expect(response.status == 400, "content-length \(length): \(response.frames)")
            #expect(response.text == #"{"error":"bad_request"}"#)
            #expect(response.frames == ["HEADERS", "DATA+END", "RST=1"], "content-length \(length)")
        }
        #expect(harness.backend.requests.allSatisfy { !$0.uri.hasSuffix("/upload") }, "no whole request reached the backend")
        #expect(connection.responses[7]?.status == 200)
        #expect(connection.goAway == nil && !connection.closed)
    }

    // MARK: Error answers reach the client whole

    @Test func curlSeesA413WholeOverHTTP2() async throws {
        let harness = try await ProxyHarness.start { $0.client.maxBodyBytes = 1000 }
        defer { Task { await harness.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-h2-413-\(getpid())").path
        FileManager.default.createFile(atPath: file, contents: Data(repeating: 0x61, count: 200_000))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let url = "http://127.0.0.1:\(harness.port)/public/upload"
        for extra in [[String](), ["-H", "Transfer-Encoding: chunked"]] {
            let result = try await offPool {
                try Self.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-w", "\n%{http_code}", "--data-binary", "@\(file)"] + extra + [url])
            }
            #expect(result.output.hasSuffix("{\"error\":\"body_too_large\"}\n413"), "\(extra): \(result.output)")
        }
    }

    /// SPEC "head too large → 431", over HTTP/2 as over HTTP/1.1: found by a black-box audit,
    /// a head over 16 KiB in a client's first flight (before it read the server's SETTINGS) was
    /// a connection error, and one over `max_header_bytes` never got its 431.
    @Test func largeHeadsInTheFirstFlightGet431OrPassOnTheirStream() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let url = "http://127.0.0.1:\(harness.port)/public/x"
        func curl(_ headerBytes: Int) async throws -> String {
            let header = "X-Big: " + String(repeating: "b", count: headerBytes)
            return try await offPool { try Self.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-H", header, "-w", "\n%{http_code}", url]).output }
        }
        #expect(try await curl(20_000).hasSuffix("\n200"), "under the 32 KiB limit, over HPACK's 16 KiB default")
        let refused = try await curl(40_000)
        #expect(refused.hasSuffix("{\"error\":\"headers_too_large\"}\n431"), "\(refused)")
        // The refusal is the stream's: another request on the same connection is served.
        let big = String(repeating: "b", count: 40_000)
        let result = try await offPool {
            try Self.run("/usr/bin/nghttp", ["-v", "-H", "x-big: \(big)", url, url.replacingOccurrences(of: "/x", with: "/y")])
        }
        #expect(result.output.contains(":status: 431"), "\(result.output.suffix(2000))")
        #expect(!result.output.contains("recv GOAWAY"), "no connection error")
    }

    // MARK: Flow control and back-pressure

    /// A backend that accepts and never reads: the upload stops once the stream's window, the
    /// proxy's upstream socket buffers and the kernel's are full, instead of the proxy reading
    /// the whole body into memory; when the backend reads, the windows reopen and it finishes.
    @Test func anUploadWaitsForTheUpstreamToTakeIt() async throws {
        let sink = try await StalledBackend.start()
        let harness = try await ProxyHarness.start {
            $0.upstreams["sink"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: sink.port)]))
            $0.routes.insert(Route(path: "/sink/", upstream: "sink", auth: .none), at: 0)
            $0.client.maxBodyBytes = 256 << 20
            $0.client.bodyTimeout = .seconds(60)
        }
        defer { Task { await harness.stop(); await sink.stop() } }
        let port = harness.port
        let total = 48 << 20
        let connection = try await offPool { try RawHTTP2Connection(port: port) }
        let uploader = Uploader(connection: connection, stream: 1, total: total)
        let sentWhileStalled = try await offPool {
            Self.request(connection, 1, path: "/sink/upload", method: "POST", extra: [("content-length", String(total))], open: true)
            return uploader.send(stopAfterIdle: 1.0)
        }
        #expect(sentWhileStalled < 24 << 20, "the client could send \(sentWhileStalled) bytes to a backend that reads nothing")
        #expect(sentWhileStalled >= 65_535, "at least the stream's window")
        sink.startReading()
        let sent = try await offPool { uploader.send(stopAfterIdle: 5.0) }
        #expect(sent == total, "the whole body once the backend reads")
        try await Task.sleep(for: .milliseconds(500))
        #expect(sink.received >= total, "the head and the whole body")
    }

    /// Sends a body as DATA frames as the windows allow, keeping count of them across calls.
    final class Uploader: @unchecked Sendable {
        let connection: RawHTTP2Connection
        let stream: UInt32
        let total: Int
        private(set) var sent = 0
        private var streamWindow = 65_535, connectionWindow = 65_535
        private var seen = 0

        init(connection: RawHTTP2Connection, stream: UInt32, total: Int) {
            self.connection = connection
            self.stream = stream
            self.total = total
        }

        /// Sends until the whole body is out or no window opened for `stopAfterIdle` seconds;
        /// returns the bytes sent so far.
        func send(stopAfterIdle: Double) -> Int {
            var idleSince = Date()
            let chunk = [UInt8](repeating: 0x62, count: 16_384)
            while sent < total {
                let room = min(streamWindow, connectionWindow, chunk.count, total - sent)
                if room > 0 {
                    connection.send(RawFrame.data(stream, Array(chunk[0..<room]), end: sent + room == total).bytes)
                    sent += room
                    streamWindow -= room
                    connectionWindow -= room
                    idleSince = Date()
                    continue
                }
                connection.readSome(timeout: 0.1)
                for frame in connection.frames[seen...] {
                    guard let increment = frame.windowIncrement else { continue }
                    if frame.stream == 0 { connectionWindow += Int(increment) } else if frame.stream == stream { streamWindow += Int(increment) }
                }
                if connection.frames.count > seen { idleSince = Date() }
                seen = connection.frames.count
                if Date().timeIntervalSince(idleSince) > stopAfterIdle || connection.closed { break }
            }
            return sent
        }
    }

    @Test func largeBodiesBothWaysThroughCurl() async throws {
        let harness = try await ProxyHarness.start { $0.client.maxBodyBytes = 64 << 20 }
        defer { Task { await harness.stop() } }
        let base = "http://127.0.0.1:\(harness.port)/public"
        let download = try await offPool {
            try Self.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{size_download} %{http_code}", "\(base)/download?bytes=\(20 << 20)"])
        }
        #expect(download.output == "\(20 << 20) 200")
        let upload = try await offPool {
            try Self.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "--data-binary", "@-", "\(base)/upload"], stdin: Data(repeating: 0x61, count: 20 << 20))
        }
        #expect(upload.output == "{\"received\":\(20 << 20)}")
        let again = try await offPool {
            try Self.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{size_download} %{http_code}", "\(base)/download?bytes=\(5 << 20)"])
        }
        #expect(again.output == "\(5 << 20) 200", "the pooled connection after the upload")
    }

    // MARK: Real clients

    @Test func h2loadManyStreamsAllAnswered() async throws {
        let harness = try await ProxyHarness.start { $0.client.maxConcurrentStreams = 100 }
        defer { Task { await harness.stop() } }
        let url = "http://127.0.0.1:\(harness.port)/echo/load"
        let result = try await offPool { try Self.run("/usr/bin/h2load", ["-n", "4000", "-c", "4", "-m", "100", url]) }
        #expect(result.output.contains("4000 succeeded, 0 failed, 0 errored"), "\(result.output)")
        #expect(result.output.contains("status codes: 4000 2xx"), "\(result.output)")
    }

    @Test func nghttpSeesEndStreamOnTheLastFrame() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let result = try await offPool { try Self.run("/usr/bin/nghttp", ["-v", "http://127.0.0.1:\(harness.port)/public/x"]) }
        #expect(result.status == 0, "\(result.output)")
        let received = result.output.split(separator: "\n").filter { $0.contains("recv") && ($0.contains("HEADERS frame") || $0.contains("DATA frame")) }
        #expect(received.count == 2, "HEADERS and one DATA: \(received)")
        #expect(received.last?.contains("flags=0x01") == true, "END_STREAM on the DATA: \(received)")
    }

    @Test func responseTimeoutAnswers504OverHTTP2() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let client = try await HTTP2TestClient.connect(port: harness.port, tls: false)
        defer { Task { await client.close() } }
        async let slow = client.send(HTTP2TestClient.Request(path: "/public/slow", authority: "127.0.0.1"))
        let fast = try await client.send(HTTP2TestClient.Request(path: "/public/x", authority: "127.0.0.1"))
        #expect(fast.status == 200)
        let timedOut = try await slow
        #expect(timedOut.status == 504)
        #expect(timedOut.text == "{\"error\":\"gateway_timeout\"}")
    }
}

/// A backend that accepts connections and reads nothing until told to, then counts and
/// discards what it reads.
final class StalledBackend: @unchecked Sendable {
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let server: any Channel
    private let children = Mutex<[any Channel]>([])
    private let count = Mutex(0)

    var received: Int { count.withLock { $0 } }

    private init(port: Int, group: MultiThreadedEventLoopGroup, server: any Channel) {
        self.port = port
        self.group = group
        self.server = server
    }

    static func start() async throws -> StalledBackend {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Mutex<StalledBackend?>(nil)
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(.socketOption(.so_rcvbuf), value: 65_536)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let backend = box.withLock { $0 }!
                    backend.children.withLock { $0.append(channel) }
                    try channel.pipeline.syncOperations.addHandler(Counter(backend: backend))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = StalledBackend(port: server.localAddress!.port!, group: group, server: server)
        box.withLock { $0 = backend }
        return backend
    }

    func startReading() {
        for channel in children.withLock({ $0 }) {
            _ = channel.setOption(ChannelOptions.autoRead, value: true)
            channel.read()
        }
    }

    func stop() async {
        try? await server.close()
        try? await group.shutdownGracefully()
    }

    private final class Counter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let backend: StalledBackend
        init(backend: StalledBackend) { self.backend = backend }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data).readableBytes
            backend.count.withLock { $0 += bytes }
        }
    }
}
