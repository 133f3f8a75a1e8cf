import CloakroomConfig
import CloakroomProxy
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// The public listeners' channel setup. Plain listeners speak HTTP/1.1, or HTTP/2 with prior
/// knowledge (h2c) to a client that opens with the connection preface; TLS listeners offer
/// `h2` and `http/1.1` by ALPN and get the HTTP/2 or the HTTP/1.1 pipeline accordingly. The
/// TLS context is the one in force when the connection arrives, so a reload with a renewed
/// certificate applies to new connections.
enum ProxyBootstrap {
    /// `TCP_NOTSENT_LOWAT` on client connections: the kernel takes no more of a response while
    /// this much of it is waiting to be sent, and says the socket is writable again as soon as
    /// less is. So the channel's writability follows what the client takes, and the send
    /// timeout (``ClientTimeoutHandler``) cuts a client that takes nothing, never one that reads
    /// slowly. Without it a socket buffer of megabytes was written ahead, and the kernel woke
    /// the proxy only once a third of it had drained (found by an audit: a client reading a
    /// download steadily at 60 KB/s was cut at `client.body_timeout`).
    static let unsentLimit: SocketOptionValue = 128 * 1024

    static func make(
        group: any EventLoopGroup, quiescing: ListenerQuiescing, runtime: RuntimeHolder, address: SocketAddressSpec,
        connections: ConnectionRegistry
    ) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.tcpOption(.init(rawValue: TCP_NOTSENT_LOWAT)), value: Self.unsentLimit)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                let current = runtime.current
                let peer = channel.remoteAddress?.ipAddress ?? "unknown"
                guard let tls = current.tls[address] else {
                    return channel.eventLoop.makeCompletedFuture {
                        let client = ClientInfo(address: peer, isSecure: false)
                        try channel.pipeline.syncOperations.addHandler(PlainProtocolDetector(runtime: runtime, client: client))
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try configureTLS(channel, context: tls, runtime: runtime, client: ClientInfo(address: peer, isSecure: true))
                }
            }
    }

    /// TLS, then ALPN: `h2` gets HTTP/2, anything else HTTP/1.1. Plain HTTP gets a 400
    /// (``PlainHTTPOnTLSGuard``). A client that has not
    /// finished the handshake within `client.header_timeout` is disconnected.
    private static func configureTLS(_ channel: any Channel, context: NIOSSLContext, runtime: RuntimeHolder, client: ClientInfo) throws {
        let limits = runtime.current.limits
        let handshakeDeadline = channel.eventLoop.scheduleTask(in: limits.headerTimeout.timeAmount) { [channel] in
            channel.close(promise: nil)
        }
        channel.closeFuture.whenComplete { _ in handshakeDeadline.cancel() }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(PlainHTTPOnTLSGuard())
        try sync.addHandler(NIOSSLServerHandler(context: context))
        try sync.addHandler(ApplicationProtocolNegotiationHandler { result, channel in
            handshakeDeadline.cancel()
            return channel.eventLoop.makeCompletedFuture {
                switch result {
                case .negotiated("h2"):
                    try HTTP2Pipeline.configure(channel, runtime: runtime, client: client)
                default:
                    try HTTP1Pipeline.configure(channel, runtime: runtime, client: client)
                }
            }
        })
    }
}
