import NIOCore
import NIOHTTP1
import NIOPosix

// Two proxies with the least work SwiftNIO allows, each client connection paired with one
// upstream connection of its own on the same event loop:
//   relay  copies bytes both ways (no HTTP parsing at all);
//   http   runs NIO's HTTP/1 codecs on both sides and forwards the parts unchanged.
// Usage: nio-floor relay|http LISTEN_PORT UPSTREAM_PORT [THREADS]

let arguments = CommandLine.arguments
guard arguments.count >= 4, let listenPort = Int(arguments[2]), let upstreamPort = Int(arguments[3]),
    arguments[1] == "relay" || arguments[1] == "http"
else {
    print("usage: nio-floor relay|http LISTEN_PORT UPSTREAM_PORT [THREADS]")
    exit(2)
}
let parsesHTTP = arguments[1] == "http"
let threads = arguments.count > 4 ? Int(arguments[4]) ?? 2 : System.coreCount

/// What one side knows of the other.
protocol Side: AnyObject {
    var context: ChannelHandlerContext? { get }
    var needsFlush: Bool { get set }
}

/// Reads `In` parts, converts each with `convert` and writes it to the partner's channel,
/// holding them until the partner exists; flushes the partner once per read batch.
final class Forwarder<In>: ChannelInboundHandler, Side {
    typealias InboundIn = In
    weak var partner: (any Side)?
    var context: ChannelHandlerContext?
    var needsFlush = false
    private var held: [NIOAny] = []
    private let convert: (In) -> NIOAny

    init(convert: @escaping (In) -> NIOAny) { self.convert = convert }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = convert(unwrapInboundIn(data))
        guard let partner, let other = partner.context else {
            held.append(part)
            return
        }
        other.write(part, promise: nil)
        partner.needsFlush = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let partner, partner.needsFlush {
            partner.needsFlush = false
            partner.context?.flush()
        }
    }

    func attach(_ partner: any Side) {
        self.partner = partner
        guard !held.isEmpty, let other = partner.context else { return }
        for part in held { other.write(part, promise: nil) }
        other.flush()
        held = []
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
    }
}

func clientSide() -> (any ChannelHandler & Side, (any Side) -> Void) {
    if parsesHTTP {
        let side = Forwarder<HTTPServerRequestPart> { part in
            switch part {
            case .head(let head): return NIOAny(HTTPClientRequestPart.head(head))
            case .body(let body): return NIOAny(HTTPClientRequestPart.body(.byteBuffer(body)))
            case .end(let trailers): return NIOAny(HTTPClientRequestPart.end(trailers))
            }
        }
        return (side, side.attach)
    }
    let side = Forwarder<ByteBuffer> { NIOAny($0) }
    return (side, side.attach)
}

func upstreamSide() -> (any ChannelHandler & Side, (any Side) -> Void) {
    if parsesHTTP {
        let side = Forwarder<HTTPClientResponsePart> { part in
            switch part {
            case .head(let head): return NIOAny(HTTPServerResponsePart.head(head))
            case .body(let body): return NIOAny(HTTPServerResponsePart.body(.byteBuffer(body)))
            case .end(let trailers): return NIOAny(HTTPServerResponsePart.end(trailers))
            }
        }
        return (side, side.attach)
    }
    let side = Forwarder<ByteBuffer> { NIOAny($0) }
    return (side, side.attach)
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let (client, attachClient) = clientSide()
            if parsesHTTP {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                    withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
            }
            try channel.pipeline.syncOperations.addHandler(client)
            ClientBootstrap(group: channel.eventLoop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { upstreamChannel in
                    upstreamChannel.eventLoop.makeCompletedFuture {
                        if parsesHTTP {
                            try upstreamChannel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                        }
                        let (upstream, attachUpstream) = upstreamSide()
                        try upstreamChannel.pipeline.syncOperations.addHandler(upstream)
                        attachUpstream(client)
                        attachClient(upstream)
                    }
                }
                .connect(host: "127.0.0.1", port: upstreamPort)
                .whenFailure { _ in channel.close(promise: nil) }
        }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("nio-floor \(arguments[1]) on 127.0.0.1:\(listenPort) -> 127.0.0.1:\(upstreamPort), \(threads) threads")
try server.closeFuture.wait()
