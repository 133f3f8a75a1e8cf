import CloakroomProxy
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix

/// The public listeners' channel setup: timeouts, the HTTP/1.1 codec, the proxy handler.
enum ProxyBootstrap {
    static func make(group: any EventLoopGroup, quiescing: ServerQuiescingHelper, runtime: ProxyRuntime, isSecure: Bool) -> ServerBootstrap {
        let limits = runtime.limits
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var decoderLimits = NIOHTTPDecoderLimitConfiguration()
                    decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
                    decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ClientTimeoutHandler(headerTimeout: limits.headerTimeout.timeAmount, idleTimeout: limits.idleTimeout.timeAmount))
                    // No outbound header validation: response fields were parsed by llhttp or built
                    // from swift-http-types values, which refuse CR/LF/NUL.
                    try sync.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: false, withOutboundHeaderValidation: false,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    let client = ClientInfo(address: channel.remoteAddress?.ipAddress ?? "unknown", isSecure: isSecure)
                    try sync.addHandler(HTTP1ProxyHandler(runtime: runtime, client: client))
                }
            }
    }
}

/// The admin listener: plain HTTP/1.1, NIO's error handling (400 on bad framing), the admin handler.
enum AdminBootstrap {
    static func make(group: any EventLoopGroup, api: AdminAPI) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(api: api))
                }
            }
    }
}
