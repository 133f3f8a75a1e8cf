import NIOCore

/// Enforces `client.idle_timeout` (a keep-alive connection with no request is closed),
/// `client.header_timeout` (a request head that started must complete in time, else 408 and
/// close) and `client.body_timeout` (while the proxy reads a request body, bytes must keep
/// coming; the clock stops while reads are paused for back-pressure, which is no fault of the
/// client's; and, the other way, a client must keep taking the response:
/// ``channelWritabilityChanged(context:)``). Sits first in the pipeline, seeing raw bytes, so
/// it knows when a request starts.
/// The proxy handler tells it where the connection is in its request/response cycle by direct
/// calls (``requestHeadReceived()``, ``responseCompleted()``) rather than pipeline events, which
/// cost a dynamic cast each per request.
final class ClientTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State { case idle, readingHead, busy, readingBody }

    let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    /// Called when `client.body_timeout` passes: the exchange answers 408 (or ends).
    var onBodyTimeout: (() -> Void)?
    /// Called when `client.header_timeout` passes: the proxy handler answers 408 as it answers
    /// every refusal. Without one, this handler writes a plain 408 itself.
    var onHeaderTimeout: (() -> Void)?
    /// Called just before a client that took nothing for `client.body_timeout` is cut: the
    /// exchange it cuts ended by a timeout, not by the client.
    var onSendTimeout: (() -> Void)?
    private var state = State.idle
    /// No byte has come yet: the first wait is `client.header_timeout`, not `idle_timeout`
    /// (a new connection is not a kept-alive one; nginx's `client_header_timeout`). Found by an
    /// audit: after a TLS handshake, a connection sending nothing was held for `idle_timeout`.
    private var awaitingFirstRequest = true
    private var timer = LazyTimer()
    private var context: ChannelHandlerContext?
    /// Runs while the socket takes no more bytes (``channelWritabilityChanged(context:)``).
    private var sendStall: Scheduled<Void>?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount, bodyTimeout: TimeAmount = .seconds(60)) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(.idle) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        sendStall?.cancel()
        sendStall = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(.idle)
        context.fireChannelActive()
    }

    /// The header timeout is armed after the proxy handler has seen the bytes, and only if they
    /// did not complete the head: a head that arrives in one read (nearly all) never arms it.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        awaitingFirstRequest = false
        if state == .readingBody { arm(.readingBody) }  // bytes came: the body's clock restarts
        guard state == .idle else { return context.fireChannelRead(data) }
        state = .readingHead
        context.fireChannelRead(data)
        if state == .readingHead { arm(.readingHead) }
    }

    /// A whole request head arrived: no header timeout while the exchange runs.
    func requestHeadReceived() {
        state = .busy
        timer.disarm()
    }

    /// The request's body is being read: `client.body_timeout` runs between reads.
    func readingBody() {
        guard state == .busy else { return }
        arm(.readingBody)
    }

    /// The body ended, or reads paused for back-pressure: no body clock.
    func bodyNotAwaited() {
        guard state == .readingBody else { return }
        state = .busy
        timer.disarm()
    }

    /// The response was written: the idle timeout runs until the next request starts.
    func responseCompleted() {
        arm(.idle)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer.cancel()
        sendStall?.cancel()
        sendStall = nil
        context.fireChannelInactive()
    }

    /// `client.body_timeout` in the other direction, as nginx's `send_timeout`: when the
    /// client takes no bytes of what the proxy writes for that long (the socket stays
    /// unwritable), the connection closes, and with it the exchange and its upstream
    /// connection. Found by an audit: a client that stopped reading held its connection and
    /// an upstream connection forever, and a few such clients used up `max_connections`.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendStall?.cancel()
            sendStall = nil
        } else if sendStall == nil {
            armSendStall(context: context, progress: SendProgress(context.channel))
        }
        context.fireChannelWritabilityChanged()
    }

    /// A client that took some of what was written within the period is watched for another.
    private func armSendStall(context: ChannelHandlerContext, progress: SendProgress) {
        sendStall = context.eventLoop.assumeIsolated().scheduleTask(in: bodyTimeout) { [weak self] in
            guard let self, let context = self.context, !context.channel.isWritable else { return }
            var progress = progress
            if progress.advanced(context.channel) { return self.armSendStall(context: context, progress: progress) }
            self.onSendTimeout?()
            context.close(promise: nil)
        }
    }

    private func arm(_ state: State) {
        guard let context else { return }
        self.state = state
        let timeout: TimeAmount
        switch state {
        case .idle: timeout = awaitingFirstRequest ? headerTimeout : idleTimeout
        case .readingHead: timeout = headerTimeout
        case .readingBody, .busy: timeout = bodyTimeout
        }
        timer.arm(at: .now() + timeout, on: context.eventLoop, expiry)
    }

    private func expiry() {
        guard let context, timer.fired(on: context.eventLoop, expiry) else { return }
        switch state {
        case .idle: context.close(promise: nil)
        case .readingHead:
            state = .busy
            if let onHeaderTimeout { onHeaderTimeout() } else { sendTimeout(context: context) }
        case .readingBody:
            state = .busy
            onBodyTimeout?()
        case .busy: break
        }
    }

    /// 408 written as raw bytes: the HTTP codec behind us holds an incomplete request.
    private func sendTimeout(context: ChannelHandlerContext) {
        let body = "{\"error\":\"request_timeout\"}"
        let requestID = String(UInt64.random(in: .min ... .max), radix: 16)
        let response =
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            + "Content-Length: \(body.utf8.count)\r\nX-Request-Id: \(requestID)\r\nConnection: close\r\n\r\n\(body)"
        let buffer = context.channel.allocator.buffer(string: response)
        context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
