import CloakroomProxy
import NIOCore

/// HTTP/1.1 on a client connection: timeouts, then the proxy handler, which parses requests and
/// writes responses itself and answers pipelined requests in order.
enum HTTP1Pipeline {
    static func configure(_ channel: any Channel, runtime: RuntimeHolder, client: ClientInfo) throws {
        let limits = runtime.current.limits
        let sync = channel.pipeline.syncOperations
        let timeouts = ClientTimeoutHandler(
            headerTimeout: limits.headerTimeout.timeAmount, idleTimeout: limits.idleTimeout.timeAmount,
            bodyTimeout: limits.bodyTimeout.timeAmount)
        try sync.addHandler(timeouts)
        let connection = ClientConnection(holder: runtime, client: client, isHTTP2: false)
        try sync.addHandler(HTTP1ConnectionHandler(connection: connection, eventLoop: channel.eventLoop, timeouts: timeouts))
    }
}
