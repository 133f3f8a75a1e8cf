import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOSSL

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
    /// How the body is delimited; the head's only framing field is written from it.
    var framing: UpstreamFraming
    /// A `traceparent` the proxy started (the client sent none, or a malformed one).
    var traceparent: String?
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
    /// The `Host` this connection's requests carry instead of the client's (`host_header`).
    let host: String?
    /// The target's `host:port`: the `Host` of a request whose client sent none (an HTTP/1.0
    /// request without `Host`), so every HTTP/1.1 request upstream carries one (RFC 9112 §3.2).
    let targetHost: String
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
    private var framing = UpstreamFraming.none
    /// Body bytes still owed under a `Content-Length` framing.
    private var bodyRemaining = 0
    private var parser = HTTP1ResponseParser(maxHeaderBytes: UpstreamConnection.maxResponseHeadBytes)
    /// Response bytes read but not yet parsed (a head split across reads, or after a 101).
    private var inbound: ByteBuffer?
    /// Request heads are written into this buffer, reused from one request to the next: NIO
    /// lets go of it once written, so clearing it finds it unshared and keeps its memory.
    private var headBuffer = ByteBuffer()
    private(set) var isClosed = false
    /// The TLS upstream closed without close_notify (``errorCaught(context:error:)``).
    private var closedWithoutCloseNotify = false
    /// When the connection last went idle in the pool.
    var idleSince = NIODeadline.now()

    init(channel: Channel, targetIndex: Int, host: String? = nil, targetHost: String = "") {
        self.channel = channel
        self.targetIndex = targetIndex
        self.host = host
        self.targetHost = targetHost
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
        framing = request.framing
        if case .length(let length) = framing { bodyRemaining = length } else { bodyRemaining = 0 }
        parser.requestWasHEAD = request.isHEAD
        headBuffer.clear()
        if let host = host ?? (request.request.authority?.isEmpty != false ? targetHost : nil) {
            // `host_header: target` or a literal, or no `Host` from the client: a copy with its
            // authority replaced (the exchange keeps the client's for a retry and for
            // `X-Forwarded-Host`).
            var head = request.request
            head.authority = host
            HTTP1Writer.writeRequestHead(
                head, lines: request.lines, filter: request.filter, additions: request.additions, framing: request.framing,
                upgrade: request.upgrade, traceparent: request.traceparent, into: &headBuffer)
        } else {
            HTTP1Writer.writeRequestHead(
                request.request, lines: request.lines, filter: request.filter, additions: request.additions,
                framing: request.framing, upgrade: request.upgrade, traceparent: request.traceparent, into: &headBuffer)
        }
        context?.write(wrapOutboundOut(headBuffer), promise: nil)
    }

    /// Writes a piece of the request body in the head's framing. A piece the framing has no
    /// room for (more than the declared length, or any body where none was declared) is not
    /// written: the connection closes before the upstream could read those bytes as another
    /// message, and this returns false for the caller to fail the exchange.
    func writeBody(_ buffer: ByteBuffer) -> Bool {
        guard let context else { return true }
        let count = buffer.readableBytes
        guard count > 0 else { return true }
        switch framing {
        case .chunked:
            var header = channel.allocator.buffer(capacity: 24)
            HTTP1Writer.writeChunkHeader(count, into: &header)
            context.write(wrapOutboundOut(header), promise: nil)
            context.write(wrapOutboundOut(buffer), promise: nil)
            context.write(wrapOutboundOut(Self.crlf), promise: nil)
        case .length:
            guard count <= bodyRemaining else { return framingViolated() }
            bodyRemaining -= count
            context.write(wrapOutboundOut(buffer), promise: nil)
        case .none:
            return framingViolated()
        }
        return true
    }

    /// Writes the end of the request; the caller flushes (see ``flush()``). False, with the
    /// connection closed, when a declared length was not reached.
    func writeEnd() -> Bool {
        switch framing {
        case .chunked: context?.write(wrapOutboundOut(Self.lastChunk), promise: nil)
        case .length: guard bodyRemaining == 0 else { return framingViolated() }
        case .none: break
        }
        requestComplete = true
        return true
    }

    /// The body broke its framing: detach and close, so nothing more reaches this connection
    /// and it never returns to the pool.
    private func framingViolated() -> Bool {
        abort()
        return false
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

    /// Whether the exchange that just ended left the connection reusable: both directions ended
    /// exactly at a message boundary (the whole request written in its framing, the whole
    /// response read, nothing read past it) and the upstream keeps the connection open.
    var isReusable: Bool { !isClosed && delegate == nil && requestComplete && responseKeepAlive && inbound == nil }

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
            if case .end = event, bytes.readableBytes > 0 {
                if parser.isStopped {
                    // Bytes right behind a 101 are the tunnel's.
                    inbound = bytes
                    bytes.moveReaderIndex(to: bytes.writerIndex)
                } else {
                    // Bytes past a response's end: a second response nobody asked for. This
                    // exchange has its own; the connection is never reused, not even by a
                    // pipelined request that starts inside `upstreamResponseEnd()` and would
                    // be answered with those bytes.
                    responseKeepAlive = false
                }
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
            if closedWithoutCloseNotify {
                // RFC 9112 §9.8: a body read until the close is whole over TLS only with
                // close_notify; without it, it may have been cut (found by an audit: such a
                // body was passed on as complete).
                self.delegate = nil
                delegate.upstreamFailed(.error(UpstreamTLSError.truncated))
            } else {
                deliver(end, to: delegate)
            }
        }
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(servedCount > 0 && !receivedResponseBytes ? .stale : .closed)
        }
        pool?.connectionClosed(self)
        pool = nil
        context.fireChannelInactive()
    }

    /// A channel closed before its activation finished (by an exchange that ended while it
    /// connected, in its connect promise's callbacks) fires no `channelInactive` (NIO's
    /// lifecycle), only this: its slot frees here. Found by an audit: requests cancelled as
    /// they were sent each kept a slot of `max_connections` for good, until every later
    /// request to the upstream got 502.
    func channelUnregistered(context: ChannelHandlerContext) {
        isClosed = true
        pool?.connectionClosed(self)
        pool = nil
        context.fireChannelUnregistered()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS upstream that closes without close_notify: many servers do, and HTTP framing
        // (not TLS) says whether the response was whole, so it is a close like any other
        // (``channelInactive(context:)`` follows), unless the body was to be read until the
        // close: then nothing says it was whole.
        if let tlsError = error as? NIOSSLError, case .uncleanShutdown = tlsError {
            closedWithoutCloseNotify = true
            return
        }
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(servedCount > 0 && !receivedResponseBytes ? .stale : .error(error))
        }
        close()
    }
}
