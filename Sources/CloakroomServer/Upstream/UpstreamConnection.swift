import NIOCore
import NIOHTTP1

/// The client-side exchange an upstream connection is currently serving.
///
/// - Important: Called on the connection's event loop, which is also the client connection's.
protocol UpstreamExchangeDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    func upstreamResponseEnd()
    /// End of one read batch: the moment to flush what was written downstream.
    func upstreamReadComplete()
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ failure: UpstreamFailure)
    /// The upstream connection can take more request body again.
    func upstreamBecameWritable()
    /// Whether the downstream connection can take more; upstream reads pause while it cannot.
    var downstreamWritable: Bool { get }
}

enum UpstreamFailure: Error {
    /// Closed before any response byte arrived on a connection that had served before: the
    /// server had timed it out. An idempotent request without a body may retry once.
    case stale
    case closed
    case error(any Error)
}

/// One pooled keep-alive HTTP/1.1 connection to a target, and the handler at the end of its
/// pipeline.
///
/// - Important: Loop-bound: used only on its channel's event loop, which is also the event
///   loop of the pool and client connection using it. It is `@unchecked Sendable` only so it can
///   travel in that loop's futures.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: Channel
    let targetIndex: Int
    weak var pool: UpstreamPool?
    private weak var delegate: UpstreamExchangeDelegate?
    private var context: ChannelHandlerContext?
    /// Requests served before the current one; a closed connection that had served before and
    /// sends nothing for the current request is ``UpstreamFailure/stale``.
    private(set) var servedCount = 0
    private var receivedResponseBytes = false
    private var responseKeepAlive = true
    private var requestComplete = false
    private var readPending = false
    private(set) var isClosed = false
    /// When the connection last went idle in the pool.
    var idleSince = NIODeadline.now()

    init(channel: Channel, targetIndex: Int) {
        self.channel = channel
        self.targetIndex = targetIndex
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    // MARK: Serving one exchange

    func begin(_ delegate: UpstreamExchangeDelegate, head: HTTPRequestHead) {
        self.delegate = delegate
        receivedResponseBytes = false
        responseKeepAlive = true
        requestComplete = false
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    /// Writes the end of the request; the caller flushes (see ``flush()``).
    func writeEnd() {
        requestComplete = true
        context?.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func flush() { context?.flush() }

    /// After a 101: hands the connection to `tunnel` (bytes the decoder read past the response
    /// go to it) and leaves the pool, freeing its `max_connections` slot.
    func becomeTunnel(_ tunnel: TunnelHandler) throws {
        delegate = nil
        isClosed = true
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(tunnel, position: .last)
        pool?.detach(self)
        try pipeline.removeHandler(context: pipeline.context(handler: self), promise: nil)
        try pipeline.removeHandler(context: pipeline.context(handlerType: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
        try pipeline.removeHandler(context: pipeline.context(handlerType: HTTPRequestEncoder.self), promise: nil)
    }

    var isWritable: Bool { channel.isWritable }

    /// Whether the exchange that just ended left the connection reusable.
    var isReusable: Bool { !isClosed && requestComplete && responseKeepAlive }

    /// Detaches from the exchange; the connection is closed (nothing half-sent is reused).
    func abort() {
        delegate = nil
        close()
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        channel.close(promise: nil)
    }

    /// Resumes reading once the downstream connection drained.
    func resumeReading() {
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    // MARK: ChannelHandler

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receivedResponseBytes = true
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseKeepAlive = head.isKeepAlive
            delegate?.upstreamResponseHead(head)
        case .body(let buffer):
            delegate?.upstreamResponseBody(buffer)
        case .end:
            servedCount += 1
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamResponseEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let delegate, !delegate.downstreamWritable {
            readPending = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { delegate?.upstreamBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(servedCount > 0 && !receivedResponseBytes ? .stale : .closed)
        }
        pool?.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(servedCount > 0 && !receivedResponseBytes ? .stale : .error(error))
        }
        close()
    }
}
