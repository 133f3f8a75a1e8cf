import CloakroomConfig
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A backend that writes more than one response for one request (found by an audit): the bytes
/// past the response are nobody's answer. A pipelined request that starts the moment the first
/// response ends must not be answered with them; it gets its own answer on a fresh connection.
@Suite(.serialized) struct UpstreamExtraBytesTests {
    @Test(arguments: ["GET /extra/204", "GET /extra/304", "HEAD /extra/head"])
    func bytesPastAResponseNeverAnswerTheNextPipelinedRequest(_ first: String) async throws {
        let backend = try await ScriptedUpstream.start()
        let proxy = try await ProxyHarness.start { configuration in
            configuration.upstreams["scripted"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backend.port)]))
            configuration.routes.insert(Route(path: "/extra/", upstream: "scripted", auth: .none), at: 0)
        }
        defer { Task { await proxy.stop(); try? await backend.stop() } }
        let answer = try await RawSocket.send(
            port: proxy.port,
            "\(first) HTTP/1.1\r\nHost: a\r\n\r\nGET /extra/next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(!answer.contains("PLANTED") && !answer.contains("X-Planted"), "\(answer)")
        #expect(answer.contains("REAL:/extra/next"), "the second request's own answer: \(answer)")
        #expect(backend.connections >= 2, "the first connection was not reused")
    }
}

/// A response that breaks in the same read as its head (a bad first chunk, or a bad one after
/// a small good one) has had nothing sent to the client: it gets a 502 with its JSON body, not
/// an empty reply (found by audits), and the connection stays usable. (Once a part of it is
/// written, the client connection is cut instead: the client cannot take a 502 then.)
@Suite(.serialized) struct UpstreamBrokenBodyTests {
    @Test(arguments: ["/extra/bad-chunk", "/extra/bad-after-chunk", "/extra/bad-second-size"])
    func aResponseThatBreaksBeforeAnyOfItIsSentIs502(path: String) async throws {
        let backend = try await ScriptedUpstream.start()
        let (logger, accessLines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(accessLog: logger) { configuration in
            configuration.upstreams["scripted"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backend.port)]))
            configuration.routes.insert(Route(path: "/extra/", upstream: "scripted", auth: .none), at: 0)
        }
        defer { Task { await proxy.stop(); try? await backend.stop() } }
        let answer = try await RawSocket.send(
            port: proxy.port, "GET \(path) HTTP/1.1\r\nHost: a\r\n\r\nGET /extra/next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 502 "), "\(answer)")
        #expect(answer.contains(#"{"error":"bad_gateway"}"#) && !answer.contains("hello"), "\(answer)")
        #expect(answer.contains("REAL:/extra/next"), "the connection goes on: \(answer)")
        var logged = false
        for _ in 0..<50 where !logged {
            logged = accessLines.all.contains { $0.contains(path) && $0.contains("status=502") }
            if !logged { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(logged, "the access log has the 502: \(accessLines.all)")
        let http2 = try await Curl.get("\(proxy.base)\(path)", ["--http2-prior-knowledge"])
        #expect(http2.status == 502 && http2.body == #"{"error":"bad_gateway"}"#, "HTTP/2: \(http2.status) \(http2.body)")
        #expect(http2.header("x-request-id") != nil)
    }
}

/// A response head too large for one HTTP/2 frame (NIO sends no CONTINUATION, and a frame past
/// the client's limit ends the whole connection: found by an audit) is a 502 on HTTP/2; HTTP/1.1
/// clients get it as it is.
@Suite(.serialized) struct UpstreamLargeHeadTests {
    @Test func aHeadTooLargeForOneHTTP2FrameIs502() async throws {
        let backend = try await ScriptedUpstream.start()
        let proxy = try await ProxyHarness.start { configuration in
            configuration.upstreams["scripted"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backend.port)]))
            configuration.routes.insert(Route(path: "/extra/", upstream: "scripted", auth: .none), at: 0)
        }
        defer { Task { await proxy.stop(); try? await backend.stop() } }
        let http1 = try await Curl.get("\(proxy.base)/extra/big-head")
        #expect(http1.status == 200 && http1.body == "ok")
        let http2 = try await Curl.get("\(proxy.base)/extra/big-head", ["--http2-prior-knowledge"])
        #expect(http2.status == 502 && http2.body == #"{"error":"bad_gateway"}"#, "\(http2.status) \(http2.body)")
        let after = try await Curl.get("\(proxy.base)/extra/next", ["--http2-prior-knowledge"])
        #expect(after.status == 200 && after.body == "REAL:/extra/next")
    }
}

/// Answers each request by its path with bytes written as they are: `/extra/big-head` a 25 KB
/// response head; `/extra/204`, `/extra/304`
/// and HEAD requests get a bodiless response followed at once by a planted second response;
/// `/extra/bad-chunk`, `/extra/bad-after-chunk` and `/extra/bad-second-size` a chunked body
/// that breaks in the write that carries the head (at once, or after a good chunk); anything
/// else `200` with `REAL:<path>`.
final class ScriptedUpstream: Sendable {
    let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let opened = Mutex(0)
    var connections: Int { opened.withLock { $0 } }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    static func start() async throws -> ScriptedUpstream {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Mutex<ScriptedUpstream?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                box.withLock { $0?.opened.withLock { $0 += 1 } }
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = ScriptedUpstream(port: channel.localAddress!.port!, channel: channel, group: group)
        box.withLock { $0 = upstream }
        return upstream
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var received = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            while let end = received.range(of: "\r\n\r\n") {
                let head = String(received[..<end.lowerBound])
                received = String(received[end.upperBound...])
                let line = head.split(separator: "\r\n").first.map(String.init) ?? ""
                let parts = line.split(separator: " ")
                let method = parts.first.map(String.init) ?? ""
                let path = parts.count > 1 ? String(parts[1]) : ""
                let planted = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Planted: 1\r\n\r\nPLANTED"
                let answer: String
                if method == "HEAD" {
                    answer = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n" + planted
                } else if path == "/extra/204" {
                    answer = "HTTP/1.1 204 No Content\r\n\r\n" + planted
                } else if path == "/extra/304" {
                    answer = "HTTP/1.1 304 Not Modified\r\n\r\n" + planted
                } else if path == "/extra/bad-chunk" {
                    answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n"
                } else if path == "/extra/big-head" {
                    answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: " + String(repeating: "B", count: 25_000) + "\r\n\r\nok"
                } else if path == "/extra/bad-after-chunk" {
                    answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n"
                } else if path == "/extra/bad-second-size" {
                    answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n"

                } else {
                    let body = "REAL:\(path)"
                    answer = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
                }
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
            }
        }
    }
}
