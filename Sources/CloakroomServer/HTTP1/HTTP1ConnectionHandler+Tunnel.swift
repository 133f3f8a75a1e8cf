import CloakroomProxy
import HTTPTypes
import NIOCore

// HTTP/1.1 `Upgrade` (WebSocket and others): the request goes through every phase like any
// other (route, session, authorization, strip then inject), then upstream on a fresh
// connection with `Connection: upgrade` restored. On 101 both connections drop their HTTP
// handlers and become a byte tunnel (``TunnelHandler``), watched so that it closes when its
// session ends. Any other answer is an ordinary response, after which the connection closes
// (the parser stops after an upgrade request).
extension HTTP1ConnectionHandler {
    func switchToTunnel(head: HTTPResponse, upstream: UpstreamConnection, exchange: Exchange, upgrade: String) throws {
        guard let context else { throw ChannelError.ioOnClosedChannel }
        let runtime = connection.runtime
        let clientSide = TunnelHandler(
            side: .client, isWebSocket: upgrade.lowercased() == "websocket", idleTimeout: runtime.limits.tunnelIdleTimeout.timeAmount)
        let upstreamSide = TunnelHandler(side: .upstream)
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide
        closed = true
        self.exchange = nil
        responseDeadlines.cancel()
        var switching = context.channel.allocator.buffer(capacity: 256)
        HTTP1Writer.writeResponseHead(head, version: .http1_1, extra: nil, chunked: false, into: &switching)
        let fromClient = inbound.readableBytes > 0 ? inbound : nil
        inbound = ByteBuffer()
        let fromUpstream = try upstream.becomeTunnel(upstreamSide)
        let pipeline = context.pipeline.syncOperations
        try pipeline.addHandler(clientSide, position: .last)
        try pipeline.removeHTTPServerHandlers()
        clientSide.writeRaw(switching)
        // Bytes either side sent right behind the upgrade request or the 101.
        if let fromUpstream { upstreamSide.forward(fromUpstream) }
        if let fromClient { clientSide.forward(fromClient) }
        watchTunnel(clientSide, exchange: exchange, runtime: runtime, on: context.eventLoop)
        clientSide.startReading()
        upstreamSide.startReading()
    }

    private func watchTunnel(_ tunnel: TunnelHandler, exchange: Exchange, runtime: ProxyRuntime, on loop: any EventLoop) {
        guard let session = exchange.session, let (key, isAPIKey) = exchange.watchedKey else { return }
        let watch = runtime.watch
        let token = watch.watch(key: key, subject: session.subject, isAPIKey: isAPIKey, on: loop) { [weak tunnel] in
            tunnel?.end(closeCode: 1008, reason: "session ended")
        }
        if let token {
            tunnel.onClose = { watch.unwatch(token, on: loop) }
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Removes the HTTP/1.1 server pipeline's handlers (timeouts, connection handler), leaving
    /// the tunnel alone on the connection.
    func removeHTTPServerHandlers() throws {
        try removeHandler(context: context(handlerType: ClientTimeoutHandler.self), promise: nil)
        try removeHandler(context: context(handlerType: HTTP1ConnectionHandler.self), promise: nil)
    }
}
