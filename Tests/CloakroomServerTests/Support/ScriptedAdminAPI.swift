import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A stand-in for the admin API on a loopback socket, for what the real one never does: it
/// answers every request with one given body and status (200 unless told), recording each
/// request's URI, or, with no body, accepts connections and never answers at all (an admin API
/// wedged behind a load balancer, a port that is not HTTP).
final class ScriptedAdminAPI: Sendable {
    let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let uris = Mutex<[String]>([])

    /// The request URIs received, in order.
    var requests: [String] { uris.withLock { $0 } }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    /// `answer`: the body of every answer, with `status`; `nil`: never answers.
    static func start(answering answer: String?, status: HTTPResponseStatus = .ok) async throws -> ScriptedAdminAPI {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Mutex<ScriptedAdminAPI?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let answer else { return }  // accepted, read from, never answered
                    guard let server = box.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Answerer(server: server, body: answer, status: status))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = ScriptedAdminAPI(port: channel.localAddress!.port!, channel: channel, group: group)
        box.withLock { $0 = server }
        return server
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    private final class Answerer: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let server: ScriptedAdminAPI
        let body: String
        let status: HTTPResponseStatus

        init(server: ScriptedAdminAPI, body: String, status: HTTPResponseStatus) {
            self.server = server
            self.body = body
            self.status = status
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): server.uris.withLock { $0.append(head.uri) }
            case .body: break
            case .end:
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
