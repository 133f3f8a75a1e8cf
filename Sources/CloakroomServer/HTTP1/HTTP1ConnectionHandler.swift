import CloakroomProxy
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1

/// Serves one client HTTP/1.1 connection: parses its requests from the bytes it reads
/// (``HTTP1RequestParser``), starts an ``ExchangeDriver`` for each, and is the driver's
/// ``ExchangeTransport``: it writes responses as bytes (``HTTP1Writer``), with the framing and
/// connection management HTTP/1.1 needs, and turns into a tunnel after an upgrade.
///
/// Pipelined requests are answered in order: the parser stops at the head of a request that
/// arrives while another is in flight, its bytes stay in ``inbound``, and parsing resumes when
/// the exchange ends; reads pause meanwhile. Reading is not paused for every exchange, which
/// saved two `epoll_ctl` calls per request.
///
/// Nothing reaches an upstream socket before the end of the read batch that carried the
/// request head (upstream writes are flushed in `channelReadComplete`): a request whose framing
/// turns out malformed within that batch is answered 400 with nothing forwarded.
final class HTTP1ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let connection: ClientConnection
    let eventLoop: any EventLoop
    /// The connection's idle and header timeouts.
    let timeouts: ClientTimeoutHandler?
    let responseDeadlines: any ResponseDeadlines
    var context: ChannelHandlerContext?
    private var parser: HTTP1RequestParser
    /// The exchange in flight.
    var exchange: ExchangeDriver?
    /// Bytes read and not yet parsed: a partial head, or pipelined requests waiting for the
    /// exchange in flight.
    var inbound = ByteBuffer()
    private var parsing = false
    private(set) var inReadBatch = false
    private var readPending = false
    var closed = false
    /// What the response being written needs (``HTTP1ResponseWriting``).
    var writing = HTTP1ResponseWriting()

    init(connection: ClientConnection, eventLoop: any EventLoop, timeouts: ClientTimeoutHandler?) {
        self.connection = connection
        self.eventLoop = eventLoop
        self.timeouts = timeouts
        self.responseDeadlines = SingleResponseDeadline(eventLoop: eventLoop)
        parser = HTTP1RequestParser(maxHeaderBytes: connection.runtime.limits.maxHeaderBytes, secure: connection.client.isSecure)
    }

    var logger: Logger { connection.runtime.logger }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Drops the context: holding it after removal would keep the handler, its context and,
    /// through it, the pipeline and the channel alive in a cycle, a closed connection's worth
    /// of memory each.
    func handlerRemoved(context: ChannelHandlerContext) {
        endConnection(error: false)
        inbound = ByteBuffer()
        self.context = nil
    }

    /// The connection is gone: the exchange in flight ends with it.
    private func endConnection(error: Bool) {
        closed = true
        responseDeadlines.cancel()
        let exchange = self.exchange
        self.exchange = nil
        exchange?.clientGone(error: error)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBatch = true
        var bytes = unwrapInboundIn(data)
        if inbound.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound.writeBuffer(&bytes)
        }
        parseInbound()
    }

    /// Runs the parser over ``inbound`` as far as it can go: the request in flight's body, and
    /// the next request once none is in flight.
    private func parseInbound() {
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while !closed {
            if exchange != nil && parser.isAtHead { break }  // pipelined: waits for the exchange
            var parsed: HTTP1RequestParser.Event?
            do {
                parsed = try parser.next(&inbound)
            } catch {
                inbound = ByteBuffer()
                return malformed(error)
            }
            // Taken out, not copied: the head's request moves on as the only copy, so the policy
            // edits its fields in place.
            guard let event = parsed.take() else { break }
            switch consume event {
            case .head(let head):
                writing.version = head.version
                _ = ExchangeDriver.start(head, on: self)
            case .body(let buffer):
                exchange?.requestBody(buffer)
            case .end:
                exchange?.requestEnd()
            }
        }
        // Dropping a consumed buffer lets NIO reuse its receive buffer for the next read.
        if inbound.readableBytes == 0 && inbound.capacity > 0 { inbound = ByteBuffer() }
    }

    /// Bytes that break the syntax or framing rules: 400 (431 for a head too large) and the
    /// connection closes, or, when the response is under way, it closes at once.
    private func malformed(_ error: HTTP1WireError) {
        guard let exchange else {
            writing.version = .http1_1
            _ = ExchangeDriver.malformed(error, requestID: nil, on: self)
            return
        }
        exchange.quiesce()
        exchange.fail(ProxyError(error.kind == .headersTooLarge ? .headersTooLarge : .badRequest, error.detail))
    }

    /// Not passed on: this is the pipeline's last handler.
    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        exchange?.flushUpstreamIfNeeded()
        flush()
    }

    // MARK: Back-pressure

    private var holdsReads: Bool {
        guard let exchange else { return false }
        if inbound.readableBytes > 0 && parser.isAtHead { return true }  // a pipelined request waits
        return !exchange.readsRequest
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readPending = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        endConnection(error: false)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        connection.quiescing = true
        if let exchange {
            exchange.quiesce()
        } else {
            closed = true
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        endConnection(error: true)
        context.close(promise: nil)
    }
}

// MARK: The transport of its exchanges

extension HTTP1ConnectionHandler: ExchangeTransport {
    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func exchangeStarted(_ driver: ExchangeDriver) {
        exchange = driver
        timeouts?.requestHeadReceived()
    }

    func resumeReading() {
        guard readPending, !holdsReads, let context else { return }
        readPending = false
        context.read()
    }

    func abort() {
        closed = true
        exchange = nil
        context?.close(promise: nil)
    }

    func endResponse(_ finish: ExchangeStateMachine.Finish) {
        let close = finish.closeClient || writing.closesForFraming || connection.quiescing
        guard let context, !closed else { return }
        if close {
            closed = true
            exchange = nil
            let promise = context.eventLoop.makePromise(of: Void.self)
            writeEnd(promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        writeEnd(promise: nil)
        exchange = nil
        timeouts?.responseCompleted()
        // A pipelined request waiting in the buffer. (The exchange ended without closing, so
        // its request had ended: nothing else is left to parse.)
        if inbound.readableBytes > 0 { parseInbound() }
        resumeReading()
    }
}
