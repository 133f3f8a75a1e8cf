import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// A real HTTP backend on a loopback socket that records every request it receives and answers
/// by path, so tests can see exactly what the proxy forwarded (or that it forwarded nothing).
///
/// Paths: `/login?sub=NAME` answers `Session-Login`; `/login?bad=1` answers an invalid one;
/// `/update` answers `Session-Update`; `/logout-all`, `/logout-current` answer `Session-Logout`;
/// `/slow` never answers; `/truncated` promises 1000 bytes, sends 10 and closes;
/// `/download?bytes=N` streams N bytes; `/upload` counts the body;
/// `/events` streams a server-sent event every 100 ms and never ends; `/head-first?ms=N` sends
/// its head at once and its 13-byte body N ms later; `/drop-once` arriving on a
/// connection that has answered before closes it without answering, once per backend (a
/// keep-alive connection the server timed out as the request arrived); `/ws` upgrades to a
/// WebSocket that echoes text frames as `echo:TEXT` (the upgrade request is recorded too);
/// anything else answers 200 with hop-by-hop headers the proxy must remove.
///
/// With ``TLS`` it speaks HTTPS (the same paths), records the SNI name of each handshake, and
/// can require a client certificate signed by a given CA.
final class TestBackend: Sendable {
    /// An HTTPS backend: its certificate and key (PEM), and the CA a client certificate must be
    /// signed by, when one is required.
    struct TLS: Sendable {
        var certificate: String
        var privateKey: String
        var requireClientCertificateFrom: String? = nil
    }

    struct Recorded: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        var bodyBytes: Int

        func values(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
        func value(_ name: String) -> String? { values(name).first }
    }

    let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let recorder: Recorder

    var requests: [Recorded] { recorder.log.withLock { $0 } }
    var connectionCount: Int { recorder.connections.withLock { $0 } }
    /// Connections currently open to this backend.
    var openConnections: Int { recorder.open.withLock { $0 } }
    /// HTTPS: the SNI name of each TLS handshake begun, in order (`nil`: none was sent).
    var serverNames: [String?] { recorder.serverNames.withLock { $0 } }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup, recorder: Recorder) {
        self.port = port
        self.channel = channel
        self.group = group
        self.recorder = recorder
    }

    static func start(port: Int = 0, tls: TLS? = nil) async throws -> TestBackend {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = Recorder()
        let context = try tls.map { try makeContext($0, recorder: recorder) }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    recorder.connections.withLock { $0 += 1 }
                    recorder.open.withLock { $0 += 1 }
                    channel.closeFuture.whenComplete { _ in recorder.open.withLock { $0 -= 1 } }
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, head in
                            recorder.log.withLock {
                                $0.append(.init(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, bodyBytes: 0))
                            }
                            return channel.eventLoop.makeSucceededFuture(head.uri.hasSuffix("/ws") ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                // The HTTP handler sits in front of the frame codec the upgrader added.
                                let sync = channel.pipeline.syncOperations
                                try sync.removeHandler(context: sync.context(handlerType: BackendHandler.self), promise: nil)
                                try sync.addHandler(WebSocketEcho())
                            }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    try channel.pipeline.syncOperations.addHandler(BackendHandler(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return TestBackend(port: channel.localAddress!.port!, channel: channel, group: group, recorder: recorder)
    }

    private static func makeContext(_ tls: TLS, recorder: Recorder) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)))
        if let clientCA = tls.requireClientCertificateFrom {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA))
        }
        configuration.sslContextCallback = { values, promise in
            recorder.serverNames.withLock { $0.append(values.serverHostname) }
            promise.succeed(.noChanges)
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Idempotent: tests that take a backend down early still stop it again at the end.
    func stop() async {
        guard recorder.stopped.withLock({ stopped in defer { stopped = true }; return !stopped }) else { return }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

final class Recorder: Sendable {
    let log = Mutex<[TestBackend.Recorded]>([])
    let connections = Mutex(0)
    let stopped = Mutex(false)
    let open = Mutex(0)
    /// `/drop-once` has dropped its connection.
    let dropped = Mutex(false)
    let serverNames = Mutex<[String?]>([])
}

private final class BackendHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let recorder: Recorder
    var head: HTTPRequestHead?
    var bodyBytes = 0
    /// Requests answered on this connection.
    var answered = 0

    init(recorder: Recorder) { self.recorder = recorder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
        case .end:
            guard let head else { return }
            recorder.log.withLock {
                $0.append(.init(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, bodyBytes: bodyBytes))
            }
            answer(context: context, head: head)
            answered += 1
        }
    }

    private func answer(context: ChannelHandlerContext, head: HTTPRequestHead) {
        // Answers by the last path segment, so `/public/upload` and `/upload` behave alike.
        let fullPath = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let path = "/" + (fullPath.split(separator: "/").last.map(String.init) ?? "")
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        var headers = HTTPHeaders()
        var body = "{\"ok\":true}"
        switch path {
        case "/login":
            if query == "bad=1" {
                headers.add(name: "Session-Login", value: "{not json")
            } else {
                let sub = query.hasPrefix("sub=") ? String(query.dropFirst(4)) : "alice"
                headers.add(name: "Session-Login", value: "{\"sub\":\"\(sub)\",\"email\":\"\(sub)@example.com\",\"roles\":[\"reader\",\"writer\"]}")
            }
        case "/cors":
            // A backend with CORS fields of its own, which a route with `cors` replaces.
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
            headers.add(name: "Access-Control-Expose-Headers", value: "X-Backend")
        case "/set-cookies":
            // A backend setting a cookie with the proxy's session cookie name beside its own.
            headers.add(name: "Set-Cookie", value: "cloakroom_session=planted; Path=/")
            headers.add(name: "Set-Cookie", value: "theme=dark; Path=/")
            headers.add(name: "Set-Cookie", value: " cloakroom_session =again")
        case "/update":
            headers.add(name: "Session-Update", value: "{\"email\":\"new@example.com\",\"roles\":null,\"team\":\"blue\"}")
        case "/update-sub":
            headers.add(name: "Session-Update", value: "{\"sub\":\"mallory\"}")
        case "/update-each":
            // A middleware's and a handler's patches, one not JSON, one changing `sub`: each its own field.
            headers.add(name: "Session-Update", value: "{\"email\":\"first@example.com\",\"roles\":[\"one\"]}")
            headers.add(name: "Session-Update", value: "not json")
            headers.add(name: "Session-Update", value: "{\"sub\":\"mallory\",\"roles\":[\"mallory\"]}")
            headers.add(name: "Session-Update", value: "{\"email\":\"last@example.com\"}")
        case "/logout-all":
            headers.add(name: "Session-Logout", value: "all")
        case "/logout-current":
            headers.add(name: "Session-Logout", value: "current")
        case "/slow":
            return
        case "/drop-once" where answered > 0 && !recorder.dropped.withLock({ dropped in defer { dropped = true }; return dropped }):
            context.close(promise: nil)
            return
        case "/delay":
            // Answers after 600 ms (`?ms=N`: N ms): an in-flight request for shutdown tests.
            let delay = query.hasPrefix("ms=") ? Int64(query.dropFirst(3)) ?? 600 : 600
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
                let (handler, context) = bound.value
                handler.write(context: context, headers: [:], body: "{\"delayed\":true}")
            }
            return
        case "/head-first":
            // The head at once, the body `?ms=N` later (300 by default): an ordinary response
            // that outlives one read.
            let delay = query.hasPrefix("ms=") ? Int64(query.dropFirst(3)) ?? 300 : 300
            headers.add(name: "Content-Length", value: "13")
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
                let context = bound.value
                context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: "{\"late\":true}")))), promise: nil)
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            }
            return
        case "/events":
            headers.add(name: "Content-Type", value: "text/event-stream")
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            events(context: context, number: 1)
            return
        case "/download":
            let total = Int(query.dropFirst("bytes=".count)) ?? 0
            headers.add(name: "Content-Length", value: String(total))
            context.write(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            stream(context: context, remaining: total)
            return
        case "/truncated":
            // Promises 1000 bytes, sends 10 and closes: an upstream that dies mid-response.
            headers.add(name: "Content-Length", value: "1000")
            context.write(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let part = context.channel.allocator.buffer(string: "0123456789")
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(part)))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        case "/upload":
            body = "{\"received\":\(bodyBytes)}"
        case "/head-check":
            headers.add(name: "Content-Length", value: "1234")
        case "/close":
            // Answers, then closes the connection: the proxy's pooled connection goes away.
            headers.add(name: "Connection", value: "close")
            write(context: context, headers: headers, body: body)
            context.close(promise: nil)
            return
        default:
            headers.add(name: "Connection", value: "keep-alive, X-Private")
            headers.add(name: "X-Private", value: "hop")
            headers.add(name: "Keep-Alive", value: "timeout=5")
            headers.add(name: "X-Backend", value: "1")
        }
        if head.method == .HEAD {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            return
        }
        write(context: context, headers: headers, body: body)
    }

    private func write(context: ChannelHandlerContext, headers: HTTPHeaders, body: String) {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Content-Type", value: "application/json")
        context.write(NIOAny(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
    }

    /// One event every 100 ms until the connection closes.
    private func events(context: ChannelHandlerContext, number: Int) {
        guard context.channel.isActive else { return }
        let event = context.channel.allocator.buffer(string: "data: \(number)\n\n")
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(event))), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(100)) {
            let (handler, context) = bound.value
            handler.events(context: context, number: number + 1)
        }
    }

    /// Streams `remaining` bytes in 64 KiB chunks, each written after the previous one left.
    private func stream(context: ChannelHandlerContext, remaining: Int) {
        if remaining == 0 {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            return
        }
        let size = min(remaining, 65_536)
        let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: size)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(chunk)))).whenSuccess {
            let (handler, context) = bound.value
            handler.stream(context: context, remaining: remaining - size)
        }
    }
}

/// The backend side of `/ws`: text frames come back as `echo:TEXT`; a close is answered.
private final class WebSocketEcho: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            var payload = frame.unmaskedData
            let text = payload.readString(length: payload.readableBytes) ?? ""
            let reply = context.channel.allocator.buffer(string: "echo:" + text)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: reply)), promise: nil)
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readSlice(length: min(2, payload.readableBytes)) ?? ByteBuffer()
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))).whenComplete { _ in
                context.close(promise: nil)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
    }
}
