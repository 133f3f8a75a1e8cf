import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener: plain HTTP/1.1, the client timeouts, NIO's error handling (400 on bad
/// framing), the admin handler.
///
/// `client.header_timeout`, `client.body_timeout` and `client.idle_timeout` hold here as on the
/// public listener (found by a black-box audit: without them an incomplete head or body held
/// a connection open forever). The timeout handler sits first, before the HTTP codec, so it
/// sees raw bytes and answers an incomplete head with a raw 408.
enum AdminBootstrap {
    static func make(group: any EventLoopGroup, runtime: RuntimeHolder) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let limits = runtime.current.limits
                    let timeouts = ClientTimeoutHandler(
                        headerTimeout: limits.headerTimeout.timeAmount, idleTimeout: limits.idleTimeout.timeAmount,
                        bodyTimeout: limits.bodyTimeout.timeAmount)
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(timeouts)
                    // Malformed requests are answered by ``AdminHTTPHandler`` (a JSON 400).
                    try sync.configureHTTPServerPipeline(withErrorHandling: false)
                    try sync.addHandler(AdminHTTPHandler(runtime: runtime, timeouts: timeouts))
                }
            }
    }
}
