import CloakroomProxy
import HTTPTypes
import NIOCore

/// The client-side exchange an upstream connection is currently serving.
///
/// - Important: Called on the connection's event loop, which is also the client connection's.
protocol UpstreamExchangeDelegate: AnyObject {
    /// The response head, checked; ``UpstreamResponseHead/response()`` builds an `HTTPResponse`.
    func upstreamResponseHead(_ head: UpstreamResponseHead)
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

/// What goes upstream for one exchange: the filtered request, and the framing fields the
/// proxy sets itself.
struct UpstreamRequest {
    var request: HTTPRequest
    /// Client field lines carried raw (``ClientRequestHead/lines``), written after `Host`
    /// except those `filter` drops.
    var lines: ByteBuffer
    var filter: RequestFieldFilter
    /// Written after the request's own fields.
    var additions: UpstreamAdditions
    /// The body is sent chunked (the client's was).
    var chunked: Bool
    /// The `Upgrade` value of an upgrade request (`Connection: upgrade` is restored with it).
    var upgrade: String?
    /// A `HEAD` request: its response has no body whatever its framing says. (Known from the
    /// client's request line; `request.method` would build the method again from its field.)
    var isHEAD: Bool
}

/// One pooled keep-alive HTTP/1.1 connection to a target, and the only handler in its pipeline:
/// it writes requests and parses responses itself (``HTTP1Writer``, ``HTTP1ResponseParser``).
///
/// - Important: Loop-bound: used only on its channel's event loop, which is also the event
///   loop of the pool and client connection using it. It is `@unchecked Sendable` only so it can
///   travel in that loop's futures.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Bounds an upstream response head.
    static let maxResponseHeadBytes = 64 * 1024

    let channel: Channel
    let targetIndex: Int
    /// Strong, not weak: a weak reference gives its object a side table, which sends every
    /// retain and release of it down the runtime's slow path. The cycles these make are broken
    /// when the exchange ends (``delegate``) and when the connection closes (``pool``).
    var pool: UpstreamPool?
    private var delegate: UpstreamExchangeDelegate?
    private var context: ChannelHandlerContext?
    /// Requests served before the current one; a closed connection that had served before and
    /// sends nothing for the current request is ``UpstreamFailure/stale``.
    private(set) var servedCount = 0
    private var receivedResponseBytes = false
    private var responseKeepAlive = true
    private var requestComplete = false
    private var readPending = false
    private var requestChunked = false
    private var parser = HTTP1ResponseParser(maxHeaderBytes: UpstreamConnection.maxResponseHeadBytes)
    /// Response bytes read but not yet parsed (a head split across reads, or after a 101).
    private var inbound: ByteBuffer?
    /// Request heads are written into this buffer, reused from one request to the next: NIO
    /// lets go of it once written, so clearing it finds it unshared and keeps its memory.
    private var headBuffer = ByteBuffer()
    private(set) var isClosed = false
    /// When the connection last went idle in the pool.
    var idleSince = NIODeadline.now()

    init(channel: Channel, targetIndex: Int) {
        self.channel = channel
        self.targetIndex = targetIndex
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Drops the context, which holds this handler: kept, the two would outlive the connection.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Serving one exchange

    func begin(_ delegate: UpstreamExchangeDelegate, request: UpstreamRequest) {
        self.delegate = delegate
        receivedResponseBytes = false
        responseKeepAlive = true
        requestComplete = false
        requestChunked = request.chunked
        parser.requestWasHEAD = request.isHEAD
        headBuffer.clear()
        HTTP1Writer.writeRequestHead(
            request.request, lines: request.lines, filter: request.filter, additions: request.additions, chunked: request.chunked, upgrade: request.upgrade,
            into: &headBuffer)
        context?.write(wrapOutboundOut(headBuffer), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        guard let context, buffer.readableBytes > 0 else { return }
        guard requestChunked else { return context.write(wrapOutboundOut(buffer), promise: nil) }
        var header = channel.allocator.buffer(capacity: 24)
        HTTP1Writer.writeChunkHeader(buffer.readableBytes, into: &header)
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(buffer), promise: nil)
        context.write(wrapOutboundOut(Self.crlf), promise: nil)
    }

    /// Writes the end of the request; the caller flushes (see ``flush()``).
    func writeEnd() {
        requestComplete = true
        if requestChunked { context?.write(wrapOutboundOut(Self.lastChunk), promise: nil) }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

    func flush() { context?.flush() }

    /// After a 101: hands the connection to `tunnel` and leaves the pool, freeing its
    /// `max_connections` slot. Returns the bytes read past the 101, which belong to the tunnel.
    func becomeTunnel(_ tunnel: TunnelHandler) throws -> ByteBuffer? {
        delegate = nil
        isClosed = true
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(tunnel, position: .last)
        pool?.detach(self)
        try pipeline.removeHandler(context: pipeline.context(handler: self), promise: nil)
        defer { inbound = nil }
        return inbound
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
        var bytes = unwrapInboundIn(data)
        guard !isClosed else { return }
        guard delegate != nil else {
            // Bytes nobody asked for (after a response ended, or on an idle connection): the
            // connection's framing can no longer be trusted.
            return close()
        }
        receivedResponseBytes = true
        if var held = inbound {
            inbound = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        parse(&bytes)
        if bytes.readableBytes > 0 {
            // A head split across reads waits for the rest; anything after a response's end
            // would be a second, unrequested response.
            guard delegate != nil else { return close() }
            inbound = bytes
        }
    }

    private func parse(_ bytes: inout ByteBuffer) {
        while let delegate {
            let event: HTTP1ResponseParser.Event?
            do {
                event = try parser.next(&bytes)
            } catch {
                self.delegate = nil
                delegate.upstreamFailed(.error(error))
                return close()
            }
            guard let event else { return }
            if case .end = event, parser.isStopped, bytes.readableBytes > 0 {
                // Bytes right behind a 101 are the tunnel's.
                inbound = bytes
                bytes.moveReaderIndex(to: bytes.writerIndex)
            }
            deliver(event, to: delegate)
        }
    }

    private func deliver(_ event: HTTP1ResponseParser.Event, to delegate: UpstreamExchangeDelegate) {
        switch event {
        case .head(let head):
            responseKeepAlive = head.keepAlive
            delegate.upstreamResponseHead(head)
        case .body(let buffer):
            delegate.upstreamResponseBody(buffer)
        case .end:
            servedCount += 1
            self.delegate = nil
            delegate.upstreamResponseEnd()
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
        if let delegate, let end = parser.closed() {
            deliver(end, to: delegate)
        }
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(servedCount > 0 && !receivedResponseBytes ? .stale : .closed)
        }
        pool?.connectionClosed(self)
        pool = nil
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
