import CloakroomProxy
import HTTPTypes
import NIOCore

// HTTP/1.1 `Upgrade` (WebSocket and others): the request goes through every phase like any
// other (route, session, authorization, strip then inject), then upstream on a fresh
// connection with `Connection: upgrade` restored. On 101 both connections drop their HTTP
// handlers and become a byte tunnel (``TunnelHandler``); the tunnel is watched so that it closes
// when its session ends. Any other answer is an ordinary response, after which the connection
// closes (the request decoder stops parsing after an upgrade request).
extension HTTP1ProxyHandler {
    /// The `Upgrade` value when `head` asks for one on HTTP/1.1 (`Connection: upgrade`).
    static func requestedUpgrade(_ head: ClientRequestHead) -> String? {
        guard head.version == .http1_1, head.connectionUpgrade, let upgrade = head.framing.upgrade, !upgrade.isEmpty else { return nil }
        return upgrade
    }

    /// The upstream answered 101 to an upgrade request: hold it until its end, then switch.
    func upstreamSwitchingProtocols(_ head: HTTPResponse, exchange: Exchange) {
        var response = head
        // Control headers have no meaning on a 101: removed, not applied.
        _ = policy.filterResponse(&response, exchange: exchange)
        response.headerFields[.connection] = "upgrade"
        response.headerFields[.upgrade] = head.headerFields[.upgrade]
        current?.status = 101
        state = .upgrading(response)
    }

    /// The 101 ended: turn both connections into a tunnel.
    func switchToTunnel(_ head: HTTPResponse) {
        guard let current, let upstream = current.upstream, let exchange = current.exchange else { return }
        guard current.requestEnded else {
            // The upgrade request's body was still coming: the client's remaining bytes would
            // reach the tunnel in their HTTP/1.1 framing. RFC 9110 §7.8 has the server read the
            // whole request before switching; refuse an upstream that did not.
            upstream.abort()
            self.current?.upstream = nil
            return fail(ProxyError(.upstreamUnavailable, "upstream switched protocols before the request body ended"), requestID: exchange.requestID)
        }
        let isWebSocket = current.upgrade?.lowercased() == "websocket"
        let clientSide = TunnelHandler(side: .client, isWebSocket: isWebSocket, idleTimeout: runtime.limits.tunnelIdleTimeout.timeAmount)
        let upstreamSide = TunnelHandler(side: .upstream)
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide
        self.current?.upstream = nil
        record(current)
        state = .closed
        cancelResponseTimer()
        let context = self.context!
        var switching = context.channel.allocator.buffer(capacity: 256)
        HTTP1Writer.writeResponseHead(head, version: .http1_1, extra: nil, chunked: false, into: &switching)
        let fromClient = inbound.readableBytes > 0 ? inbound : nil
        inbound = ByteBuffer()
        let fromUpstream: ByteBuffer?
        do {
            fromUpstream = try upstream.becomeTunnel(upstreamSide)
            let pipeline = context.pipeline.syncOperations
            try pipeline.addHandler(clientSide, position: .last)
            try pipeline.removeHTTPServerHandlers()
        } catch {
            logger.warning("could not switch to a tunnel", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
            upstream.close()
            context.close(promise: nil)
            return
        }
        clientSide.writeRaw(switching)
        // Bytes either side sent right behind the upgrade request or the 101.
        if let fromUpstream { upstreamSide.forward(fromUpstream) }
        if let fromClient { clientSide.forward(fromClient) }
        watchTunnel(clientSide, exchange: exchange, on: context.eventLoop)
        clientSide.startReading()
        upstreamSide.startReading()
    }

    private func watchTunnel(_ tunnel: TunnelHandler, exchange: Exchange, on loop: any EventLoop) {
        guard let session = exchange.session, let key = exchange.presentedID?.key else { return }
        let watch = runtime.watch
        let token = watch.watch(key: key, subject: session.subject, on: loop) { [weak tunnel] in
            tunnel?.end(closeCode: 1008, reason: "session ended")
        }
        if let token {
            tunnel.onClose = { watch.unwatch(token, on: loop) }
        }
    }

}

extension ChannelPipeline.SynchronousOperations {
    /// Removes the HTTP/1.1 server pipeline's handlers (timeouts, proxy handler), leaving the
    /// tunnel alone on the connection.
    func removeHTTPServerHandlers() throws {
        try removeHandler(context: context(handlerType: ClientTimeoutHandler.self), promise: nil)
        try removeHandler(context: context(handlerType: HTTP1ProxyHandler.self), promise: nil)
    }
}
