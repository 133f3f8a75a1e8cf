import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A backend that records the exact bytes it receives on each connection, and the requests an
/// ordinary HTTP/1.1 server (NIO's parser) reads out of them: the view a backend has of what the
/// proxy wrote. Every request is answered 200 with a small JSON body on a kept-alive connection,
/// so the proxy pools the connection and later requests from other clients reuse it.
///
/// A request smuggled inside another one's body shows up as one more parsed request than the
/// clients sent; stray bytes show up as a parse error.
final class RawBackend: Sendable {
    struct Request: Sendable {
        var connection: Int
        var method: String
        var uri: String
        var headers: [(String, String)]
        var body: [UInt8]

        func values(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
        func value(_ name: String) -> String? { values(name).first }
    }

    let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    fileprivate let state = Mutex(State())

    fileprivate struct State {
        var bytes: [[UInt8]] = []
        var requests: [Request] = []
        var parseErrors = 0
    }

    /// Every request parsed, in arrival order.
    var requests: [Request] { state.withLock { $0.requests } }
    /// The bytes received on each connection, in connection order.
    var connectionBytes: [[UInt8]] { state.withLock { $0.bytes } }
    /// Connections on which the bytes stopped parsing as HTTP/1.1.
    var parseErrors: Int { state.withLock { $0.parseErrors } }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    static func start() async throws -> RawBackend {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Mutex<RawBackend?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let backend = box.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    let index = backend.state.withLock { state in
                        state.bytes.append([])
                        return state.bytes.count - 1
                    }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteRecorder(backend: backend, connection: index))
                    try sync.configureHTTPServerPipeline(withErrorHandling: false)
                    try sync.addHandler(Responder(backend: backend, connection: index))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = RawBackend(port: channel.localAddress!.port!, channel: channel, group: group)
        box.withLock { $0 = backend }
        return backend
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// First in the pipeline: copies every byte read before anything parses it.
private final class ByteRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let backend: RawBackend
    let connection: Int

    init(backend: RawBackend, connection: Int) {
        self.backend = backend
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytesView
        backend.state.withLock { $0.bytes[connection].append(contentsOf: bytes) }
        context.fireChannelRead(data)
    }
}

private final class Responder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let backend: RawBackend
    let connection: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(backend: RawBackend, connection: Int) {
        self.backend = backend
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            let request = RawBackend.Request(
                connection: connection, method: head.method.rawValue, uri: head.uri,
                headers: head.headers.map { ($0.name, $0.value) }, body: body)
            let count = backend.state.withLock { state in
                state.requests.append(request)
                return state.requests.count
            }
            let text = "{\"request\":\(count),\"received\":\(body.count)}"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(text.utf8.count))
            headers.add(name: "Content-Type", value: "application/json")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        backend.state.withLock { $0.parseErrors += 1 }
        context.close(promise: nil)
    }
}
