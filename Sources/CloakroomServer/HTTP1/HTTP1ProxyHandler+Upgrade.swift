import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

// HTTP/1.1 `Upgrade` (WebSocket and others): the request goes through every phase like any
// other (route, session, authorization, strip then inject), then upstream on a fresh
// connection with `Connection: upgrade` restored. On 101 both connections drop their HTTP
// handlers and become a byte tunnel (``TunnelHandler``); the tunnel is watched so that it closes
// when its session ends. Any other answer is an ordinary response, after which the connection
// closes (the request decoder stops parsing after an upgrade request).
extension HTTP1ProxyHandler {
    /// The `Upgrade` value when `head` asks for one on HTTP/1.1 (`Connection: upgrade`).
    static func requestedUpgrade(_ head: HTTPRequestHead, upgrade: String?) -> String? {
        guard head.version == .http1_1, let upgrade, !upgrade.isEmpty else { return nil }
        let connection = head.headers[canonicalForm: "connection"]
        return connection.contains { $0.lowercased() == "upgrade" } ? upgrade : nil
    }

    /// Restores the two hop-by-hop fields the upgrade needs on the upstream request.
    static func addUpgradeFields(_ upgrade: String, to head: inout HTTPRequestHead) {
        head.headers.replaceOrAdd(name: "connection", value: "upgrade")
        head.headers.replaceOrAdd(name: "upgrade", value: upgrade)
    }

    /// The upstream answered 101 to an upgrade request: hold it until its end, then switch.
    func upstreamSwitchingProtocols(_ head: HTTPResponseHead, exchange: Exchange) {
        var response = HTTPResponse(http1: head)
        // Control headers have no meaning on a 101: removed, not applied.
        _ = policy.filterResponse(&response, exchange: exchange)
        var switching = HTTPResponseHead(http1For: response, version: .http1_1)
        switching.headers.replaceOrAdd(name: "connection", value: "upgrade")
        if let upgrade = head.headers.first(name: "upgrade") { switching.headers.replaceOrAdd(name: "upgrade", value: upgrade) }
        current?.status = 101
        state = .upgrading(switching)
    }

    /// The 101 ended: turn both connections into a tunnel.
    func switchToTunnel(_ head: HTTPResponseHead) {
        guard let current, let upstream = current.upstream, let exchange = current.exchange else { return }
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
        let switching = Self.encode(head, allocator: context.channel.allocator)
        do {
            try upstream.becomeTunnel(upstreamSide)
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
        watchTunnel(clientSide, exchange: exchange, on: context.eventLoop)
        clientSide.startReading()
        upstreamSide.startReading()
        // Bytes the upstream sent right behind its 101 reach the tunnel when the response
        // decoder's removal completes, in a task queued before this one, without a read batch
        // around them to flush them.
        context.eventLoop.assumeIsolated().execute { clientSide.flush() }
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

    /// The response head in HTTP/1.1 wire form (the encoder is gone by the time it is written).
    static func encode(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeString("HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in head.headers {
            buffer.writeString(name)
            buffer.writeString(": ")
            buffer.writeString(value)
            buffer.writeString("\r\n")
        }
        buffer.writeString("\r\n")
        return buffer
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Removes every handler of the HTTP/1.1 server pipeline (timeouts, codec, pipelining
    /// helper, proxy handler), leaving the tunnel alone on the connection.
    func removeHTTPServerHandlers() throws {
        try removeHandler(context: context(handlerType: ClientTimeoutHandler.self), promise: nil)
        try removeHandler(context: context(handlerType: HTTP1ProxyHandler.self), promise: nil)
        try removeHandler(context: context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
        try removeHandler(context: context(handlerType: HTTPResponseEncoder.self), promise: nil)
    }
}
