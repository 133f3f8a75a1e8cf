import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An HTTP/2 client that sends exactly the frames a test asks for: whether `content-length` is
/// there (and what it says), how the body is cut into DATA frames, whether END_STREAM rides on
/// HEADERS. Over h2c (prior knowledge) or TLS with ALPN `h2`. Streams on one connection may
/// run concurrently.
final class HTTP2TestClient: Sendable {
    /// One request as frames.
    struct Request: Sendable {
        var method = "GET"
        var path = "/"
        var authority = "localhost"
        var headers: [(String, String)] = []
        /// Body pieces, one DATA frame each; END_STREAM goes on the last one. Empty: END_STREAM on
        /// HEADERS, unless `emptyFinalData`.
        var data: [[UInt8]] = []
        /// Ends the stream with an empty DATA frame instead of on the last frame that carries bytes.
        var emptyFinalData = false
    }

    struct Response: Sendable {
        var status: Int?
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// The stream was reset (RST_STREAM) with this code.
        var resetCode: HTTP2ErrorCode?

        func value(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.group = group
        self.multiplexer = multiplexer
    }

    static func connect(port: Int, tls: Bool) async throws -> HTTP2TestClient {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.applicationProtocols = ["h2"]
        let context = try tls ? NIOSSLContext(configuration: configuration) : nil
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let multiplexer = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self).syncMultiplexer()
        }.get()
        return HTTP2TestClient(channel: channel, group: group, multiplexer: multiplexer)
    }

    /// Sends `request` on a new stream and waits for its response (or reset).
    func send(_ request: Request) async throws -> Response {
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
            }
        }.get()
        var fields = HPACKHeaders([
            (":method", request.method), (":scheme", "http"), (":path", request.path), (":authority", request.authority),
        ])
        for (name, value) in request.headers { fields.add(name: name, value: value) }
        let headerBlock = fields
        let pieces = request.data
        let endOnHeaders = pieces.isEmpty && !request.emptyFinalData
        let frames = stream.eventLoop.submit {
            stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headerBlock, endStream: endOnHeaders)), promise: nil)
            for (index, piece) in pieces.enumerated() {
                let last = index == pieces.count - 1 && !request.emptyFinalData
                let buffer = stream.allocator.buffer(bytes: piece)
                stream.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(buffer), endStream: last)), promise: nil)
            }
            if request.emptyFinalData {
                stream.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), promise: nil)
            }
            stream.flush()
        }
        try await frames.get()
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Collects one stream's response frames.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload

    private let promise: EventLoopPromise<HTTP2TestClient.Response>
    private var response = HTTP2TestClient.Response()
    private var completed = false

    init(promise: EventLoopPromise<HTTP2TestClient.Response>) { self.promise = promise }

    private func complete() {
        guard !completed else { return }
        completed = true
        promise.succeed(response)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if let status = headers.headers.first(name: ":status").flatMap({ Int($0) }), status >= 200 {
                response.status = status
                response.headers = headers.headers.filter { !$0.name.hasPrefix(":") }.map { ($0.name, $0.value) }
            }
            if headers.endStream { complete() }
        case .data(let data):
            if case .byteBuffer(let buffer) = data.data { response.body.append(contentsOf: buffer.readableBytesView) }
            if data.endStream { complete() }
        case .rstStream(let code):
            response.resetCode = code
            complete()
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent, let reason = closed.reason, response.resetCode == nil {
            response.resetCode = reason
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !completed {
            completed = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}
