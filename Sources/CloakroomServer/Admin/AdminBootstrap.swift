import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener: plain HTTP/1.1, NIO's error handling (400 on bad framing), the admin handler.
enum AdminBootstrap {
    static func make(group: any EventLoopGroup, runtime: RuntimeHolder) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(runtime: runtime))
                }
            }
    }
}
