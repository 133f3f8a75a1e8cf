import NIOCore

/// Events the proxy handler sends toward the front of the pipeline so the timeout handler
/// knows where the connection is in its request/response cycle.
enum ClientConnectionEvent: Sendable {
    case requestHeadReceived
    case responseCompleted
}

/// Enforces `client.idle_timeout` (a keep-alive connection with no request is closed) and
/// `client.header_timeout` (a request head that started must complete in time, else 408 and
/// close). Sits first in the pipeline, seeing raw bytes, so it knows when a request starts.
final class ClientTimeoutHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State { case idle, readingHead, busy }

    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var state = State.idle
    private var timer: Scheduled<Void>?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context, state: .idle)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context, state: .idle) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .idle { arm(context: context, state: .readingHead) }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        switch event as? ClientConnectionEvent {
        case .requestHeadReceived?:
            timer?.cancel()
            timer = nil
            state = .busy
            promise?.succeed()
        case .responseCompleted?:
            arm(context: context, state: .idle)
            promise?.succeed()
        case nil:
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    private func arm(context: ChannelHandlerContext, state: State) {
        timer?.cancel()
        self.state = state
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        switch state {
        case .idle:
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { loopBound.value.close(promise: nil) }
        case .readingHead:
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: headerTimeout) { [self] in
                guard self.state == .readingHead else { return }
                self.sendTimeout(context: loopBound.value)
            }
        case .busy:
            timer = nil
        }
    }

    /// 408 written as raw bytes: the HTTP codec behind us holds an incomplete request.
    private func sendTimeout(context: ChannelHandlerContext) {
        let body = "{\"error\":\"request_timeout\"}"
        let requestID = String(UInt64.random(in: .min ... .max), radix: 16)
        let response =
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n"
            + "x-request-id: \(requestID)\r\nconnection: close\r\n\r\n\(body)"
        let buffer = context.channel.allocator.buffer(string: response)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
