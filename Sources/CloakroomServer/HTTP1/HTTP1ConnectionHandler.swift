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
/// saved two `epoll_ctl` calls per request. No request starts while the client takes no more
/// of what was written (the channel is not writable): a client pipelining requests without
/// reading the answers would otherwise have them all answered into memory (found by an audit:
/// 16 MB per connection).
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
    /// The client sent bytes that could not be parsed: it may still be sending.
    private var malformedInput = false
    /// Closing after an answer given before the whole request was read: what the client still
    /// sends is read and dropped for a while (``linger(_:)``).
    private var lingering = false
    private var lingerDeadline: Scheduled<Void>?
    /// The client took nothing for `client.body_timeout`, and the proxy cuts it: the exchange
    /// is logged `timeout` (found by an audit: it was `client_closed`).
    private var sendTimedOut = false
    /// How long a lingering close reads and drops what the client still sends (nginx's
    /// `lingering_timeout`).
    static let lingerTime = TimeAmount.seconds(5)

    init(connection: ClientConnection, eventLoop: any EventLoop, timeouts: ClientTimeoutHandler?) {
        self.connection = connection
        self.eventLoop = eventLoop
        self.timeouts = timeouts
        self.responseDeadlines = SingleResponseDeadline(eventLoop: eventLoop)
        parser = HTTP1RequestParser(maxHeaderBytes: connection.runtime.limits.maxHeaderBytes, secure: connection.client.isSecure)
        // A cycle between two handlers of one pipeline, broken when this one is removed.
        timeouts?.onBodyTimeout = { [self] in bodyTimedOut() }
        timeouts?.onHeaderTimeout = { [self] in headerTimedOut() }
        timeouts?.onSendTimeout = { [self] in sendTimedOut = true }
    }

    var logger: Logger { connection.runtime.logger }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Drops the context: holding it after removal would keep the handler, its context and,
    /// through it, the pipeline and the channel alive in a cycle, a closed connection's worth
    /// of memory each.
    func handlerRemoved(context: ChannelHandlerContext) {
        endConnection()
        inbound = ByteBuffer()
        timeouts?.onBodyTimeout = nil
        timeouts?.onHeaderTimeout = nil
        timeouts?.onSendTimeout = nil
        self.context = nil
    }

    /// The connection is gone: the exchange in flight ends with it.
    private func endConnection() {
        closed = true
        lingerDeadline?.cancel()
        lingerDeadline = nil
        responseDeadlines.cancel()
        let exchange = self.exchange
        self.exchange = nil
        exchange?.clientGone(timedOut: sendTimedOut)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !lingering else { return }  // the answer is out; what follows is dropped
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
        defer {
            parsing = false
            if !closed { resumeReading() }  // one an exchange asked for while the parser was mid-request
        }
        while !closed {
            if parser.isAtHead && (exchange != nil || !isWritable) { break }  // waits for the exchange, or the client
            var parsed: HTTP1RequestParser.Event?
            do {
                parsed = try parser.next(&inbound)
            } catch {
                let method = exchange == nil ? HTTP1Head.leadingMethod(inbound) : nil
                inbound = ByteBuffer()
                return malformed(error, method: method)
            }
            // Taken out, not copied: the head's request moves on as the only copy, so the policy
            // edits its fields in place.
            guard let event = parsed.take() else { break }
            switch consume event {
            case .head(let head):
                writing.version = head.version
                let driver = ExchangeDriver.start(head, on: self)
                if driver.awaitsRequestBody { timeouts?.readingBody() }
            case .body(let buffer):
                exchange?.requestBody(buffer)
            case .end:
                timeouts?.bodyNotAwaited()
                exchange?.requestEnd()
            }
        }
        // Dropping a consumed buffer lets NIO reuse its receive buffer for the next read.
        if inbound.readableBytes == 0 && inbound.capacity > 0 { inbound = ByteBuffer() }
    }

    /// Bytes that break the syntax or framing rules: 400 (431 for a head too large) and the
    /// connection closes, or, when the response is under way, it closes at once.
    private func malformed(_ error: HTTP1WireError, method: HTTPRequest.Method? = nil) {
        malformedInput = true
        guard let exchange else {
            writing.version = .http1_1
            _ = ExchangeDriver.malformed(error, method: method, requestID: nil, on: self)
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
        guard let exchange else { return !isWritable }  // the next request waits for the client to take the last answer
        if inbound.readableBytes > 0 && parser.isAtHead { return true }  // a pipelined request waits
        return !exchange.readsRequest
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readPending = true
            timeouts?.bodyNotAwaited()  // not reading is the proxy's choice, not the client's fault
            return
        }
        context.read()
    }

    /// `client.body_timeout` passed with the body unfinished: 408, or the end of a response
    /// already under way; the connection closes.
    private func bodyTimedOut() {
        guard let exchange, exchange.awaitsRequestBody else { return }
        exchange.quiesce()
        exchange.fail(ProxyError(.headerTimeout, "no request body bytes within client.body_timeout"))
    }

    /// `client.header_timeout` passed with a request head incomplete: 408, and the connection
    /// closes (the partial head is dropped).
    private func headerTimedOut() {
        guard exchange == nil, !closed else { return }
        malformedInput = true
        writing.version = .http1_1
        // The head has been arriving for the header timeout: the line's duration says so
        // (found by an audit: it said the fraction of a millisecond the answer took).
        let began = timeouts.map { NIODeadline.now() - $0.headerTimeout }
        _ = ExchangeDriver.refused(
            ProxyError(.headerTimeout, "request head incomplete within client.header_timeout"), requestID: nil, on: self, startedAt: began)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if let exchange {
                exchange.upstream?.resumeReading()
            } else if !closed {
                // The next request, held while the client took no more.
                if inbound.readableBytes > 0 { parseInbound() }
                resumeReading()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        endConnection()
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
        endConnection()
        context.close(promise: nil)
    }
}

// MARK: Lingering close

extension HTTP1ConnectionHandler {
    /// Closing while the client may still be sending (an early 413, 431, 400 or 408): a
    /// close with unread bytes makes the kernel reset the connection, and a client still
    /// sending fails with `ECONNRESET` or `EPIPE` before it reads the answer (and on a real
    /// network the reset can discard the answer in flight). So the proxy stops writing (FIN),
    /// reads and drops what still comes for ``lingerTime``, then closes, like nginx's lingering
    /// close.
    fileprivate func linger(_ context: ChannelHandlerContext) {
        lingering = true
        inbound = ByteBuffer()
        let halfClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: halfClosed)
        halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }  // TLS: no half-close
        lingerDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { context.close(promise: nil) }
        context.read()
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

    /// Not while parsing: an exchange starting asks for its body right after its head, when the
    /// parser has yet to reach the request's end and the pipelined requests behind it (found by
    /// an audit: every proxied request read another megabyte of a pipeline its client never
    /// read answers for, 500 MB in a second). ``parseInbound()`` resumes once it is done.
    func resumeReading() {
        guard readPending, !parsing, !holdsReads, let context else { return }
        readPending = false
        if exchange?.awaitsRequestBody == true { timeouts?.readingBody() }
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
            // Answered before the whole request was read: the client may still be sending.
            let linger = finish.requestUnfinished || malformedInput || inbound.readableBytes > 0 || !parser.isAtHead
            closed = true
            exchange = nil
            let promise = context.eventLoop.makePromise(of: Void.self)
            writeEnd(promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { [self] _ in
                if linger { self.linger(context) } else { context.close(promise: nil) }
            }
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
