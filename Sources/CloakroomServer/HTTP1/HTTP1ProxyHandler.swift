import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1

/// Serves one client HTTP/1.1 connection, or one HTTP/2 stream (through an
/// ``HTTP2StreamBridge``): runs each request through the ``ProxyPolicy`` phases
/// and streams it to an upstream connection and the response back, with back-pressure both
/// ways (a side stops reading while the other cannot take more).
///
/// On HTTP/1.1 it reads and writes bytes itself: ``HTTP1RequestParser`` turns the read buffer
/// into `HTTPRequest`s, and responses are written with ``HTTP1Writer``. No intermediate header
/// representation, no codec handlers to pass through.
///
/// Pipelined requests are answered in order: the parser stops at the head of a request that
/// arrives while another is in flight, its bytes stay in ``inbound``, and parsing resumes when
/// the exchange completes; reads pause meanwhile. Reading is not paused for every exchange,
/// which saved two `epoll_ctl` calls per request.
///
/// Nothing reaches an upstream socket before the end of the read batch that carried the
/// request head (writes are flushed in `channelReadComplete`): a request whose framing turns
/// out malformed within that batch is answered 400 with nothing forwarded.
final class HTTP1ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State: Equatable {
        case idle
        /// Waiting for the store (async lookup, logout or session effects).
        case awaitingStore
        case awaitingUpstream
        /// Request going upstream; no response yet.
        case forwarding
        /// Response head from upstream held while its session effects are applied.
        case applyingEffects
        case streamingResponse
        /// The upstream answered 101 to an upgrade request; the switch happens at its end.
        case upgrading(HTTPResponse)
        /// Reading a request body the proxy answers itself (the built-in login's POST).
        case collectingLocalBody
        /// A locally generated response is being written; request parts are ignored.
        case localResponse
        case closed
    }

    let runtimeHolder: RuntimeHolder
    /// The runtime of the request in flight, refreshed from ``runtimeHolder`` at each request
    /// head when a reload happened.
    var runtime: ProxyRuntime
    var runtimeGeneration: Int
    let client: ClientInfo
    /// An HTTP/2 stream: the request arrives as HTTP/2.0, cookie crumbs are joined, and the
    /// stream (not a connection) ends with the exchange.
    let isHTTP2Stream: Bool
    var state = State.idle
    var current: Current?
    /// Bumped per request; async completions for an earlier request are ignored.
    var generation = 0
    var context: ChannelHandlerContext!
    let requestIDs: RequestIDGenerator
    /// The last session's attributes, parsed (shared by the streams of an HTTP/2 connection).
    let attributesCache: ParsedAttributesCache
    /// The last cookie verified on this connection (shared by the streams of an HTTP/2 connection).
    let cookieMemo: VerifiedCookieMemo
    /// The identity fields last injected (shared by the streams of an HTTP/2 connection).
    let injectionMemo: InjectionMemo
    /// The metric objects this connection last recorded into.
    var metricsMemo = RequestMetrics.Memo()
    /// The connection's idle and header timeouts (HTTP/1.1 only; an HTTP/2 stream has none).
    let timeouts: ClientTimeoutHandler?
    var inReadBatch = false
    var upstreamNeedsFlush = false
    var downstreamNeedsFlush = false
    var readPending = false
    /// `response_timeout` of the exchange waiting for its response head, on an HTTP/1.1
    /// connection; HTTP/2 streams use their connection's ``streamDeadlines`` instead.
    var responseTimer = LazyTimer()
    let streamDeadlines: StreamDeadlines?
    /// Set while a response that outlived one read batch is watched (see ``watchLongResponse()``).
    var watchToken: SessionWatch.Token?
    /// The HTTP/1.1 connection's request parser (nil on an HTTP/2 stream).
    var parser: HTTP1RequestParser?
    /// Bytes read and not yet parsed: a partial head, or pipelined requests waiting for the
    /// exchange in flight.
    var inbound = ByteBuffer()
    /// Response heads are written into this buffer, reused from one response to the next: NIO
    /// lets go of it once written, so clearing it finds it unshared and keeps its memory.
    var headBuffer = ByteBuffer()
    /// ``headBuffer`` holds a response head not yet written (see ``downstreamHead(_:requestID:close:)``).
    var headHeld = false
    private var parsing = false
    /// An HTTP/2 stream's bridge, through which responses are written (it refers back
    /// `unowned`: no weak reference, whose side table would slow every retain of its object).
    var bridge: HTTP2StreamBridge?
    /// The server is shutting down: close after the response in flight, or now if there is none.
    var quiescing = false

    init(
        runtime: RuntimeHolder, client: ClientInfo, isHTTP2Stream: Bool = false, timeouts: ClientTimeoutHandler? = nil,
        requestIDs: RequestIDGenerator = RequestIDGenerator(), attributesCache: ParsedAttributesCache = ParsedAttributesCache(),
        cookieMemo: VerifiedCookieMemo = VerifiedCookieMemo(), injectionMemo: InjectionMemo = InjectionMemo(),
        streamDeadlines: StreamDeadlines? = nil
    ) {
        self.cookieMemo = cookieMemo
        self.injectionMemo = injectionMemo
        self.streamDeadlines = streamDeadlines
        self.requestIDs = requestIDs
        self.attributesCache = attributesCache
        self.timeouts = timeouts
        self.runtimeHolder = runtime
        self.runtimeGeneration = runtime.generation
        self.runtime = runtime.current
        self.client = client
        self.isHTTP2Stream = isHTTP2Stream
        if !isHTTP2Stream { parser = HTTP1RequestParser(maxHeaderBytes: runtime.current.limits.maxHeaderBytes, secure: client.isSecure) }
    }

    var policy: ProxyPolicy { runtime.policy }
    var logger: Logger { runtime.logger }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Drops the context: holding it after removal would keep the handler, its context and, through
    /// it, the pipeline and the channel alive in a cycle, a closed connection's worth of memory
    /// each. Everything that could still run later (store results, timers, upstream events)
    /// checks ``state`` first, which is `closed` by then.
    func handlerRemoved(context: ChannelHandlerContext) {
        endConnection()
        inbound = ByteBuffer()
        self.context = nil
    }

    /// The connection is gone: nothing more is sent or awaited for it.
    private func endConnection() {
        state = .closed
        cancelResponseTimer()
        unwatchLongResponse()
        current?.upstream?.abort()
        current = nil
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
    func parseInbound() {
        guard !parsing, parser != nil else { return }
        parsing = true
        defer { parsing = false }
        while state != .closed {
            if current != nil && parser!.isAtHead { break }  // pipelined: waits for the exchange
            var parsed: HTTP1RequestParser.Event?
            do {
                parsed = try parser!.next(&inbound)
            } catch {
                inbound = ByteBuffer()
                return receivedMalformedHead(error, requestID: current?.exchange?.requestID)
            }
            // Taken out, not copied: the head's request moves on as the only copy, so the policy
            // edits its fields in place.
            guard let event = parsed.take() else { break }
            switch consume event {
            case .head(let head): receivedHead(head)
            case .body(let buffer): receivedBody(buffer)
            case .end: receivedEnd()
            }
        }
        // Dropping a consumed buffer lets NIO reuse its receive buffer for the next read.
        if inbound.readableBytes == 0 && inbound.capacity > 0 { inbound = ByteBuffer() }
    }

    /// A request that breaks the syntax or framing rules: 400 (431 for a head too large), and
    /// the connection closes.
    func receivedMalformedHead(_ error: HTTP1WireError, requestID: String?) {
        let code: ProxyError.Code = error.kind == .headersTooLarge ? .headersTooLarge : .badRequest
        if current == nil {
            current = Current(version: .http1_1, keepAlive: false, isHEAD: false, idempotent: false, expectContinue: false, framing: .none)
        }
        current?.closeAfterResponse = true
        fail(ProxyError(code, error.detail), requestID: requestID)
    }

    /// Not passed on: this is the pipeline's last handler.
    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        flushUpstreamIfNeeded()
        if downstreamNeedsFlush { flushDownstream() }
    }

    func receivedHead(_ head: consuming ClientRequestHead) {
        guard state != .closed else { return }
        let runtimeGeneration = runtimeHolder.generation
        if runtimeGeneration != self.runtimeGeneration {
            self.runtimeGeneration = runtimeGeneration
            runtime = runtimeHolder.current
        }
        timeouts?.requestHeadReceived()
        generation &+= 1
        // Read in place, not copied out: each copy of a head part retains its strings.
        let requestID = head.framing.requestID.flatMap { RequestID.isValid($0) ? $0 : nil } ?? requestIDs.next()
        let chunked = head.framing.transferEncoding != nil
        // Digits only: HTTP/1.1's parser checked them; HTTP/2's `content-length` NIO read with `Int`.
        let declaredLength = head.framing.contentLength.map { UpstreamFraming.parseLength($0) ?? -1 }
        let bodyMayFollow = head.bodyMayFollow
        // RFC 9110 §10.1.1: no 100 (Continue) for an HTTP/1.0 client.
        let expectContinue =
            head.version != .http1_0 && head.framing.expect.map { ASCIIText.equalsIgnoringCase($0.utf8, "100-continue") } ?? false
        let contentType = head.framing.contentType
        let version = head.version, keepAlive = head.keepAlive
        let upgrade = isHTTP2Stream ? nil : Self.requestedUpgrade(head)
        let cookie = head.takeSessionCookie(policy.cookies, memo: cookieMemo, owner: ObjectIdentifier(policy))
        let lines = head.lines
        // Moved out, not copied: the policy edits the fields in place.
        var request = (consume head).request
        let method = request.method
        let framing = UpstreamFraming.decide(method: method, contentLength: declaredLength, chunked: chunked, bodyMayFollow: bodyMayFollow)
        let current = Current(
            exchange: nil, version: version, keepAlive: keepAlive, isHEAD: method == .head, idempotent: Self.isIdempotent(method),
            expectContinue: expectContinue, framing: framing, method: method, contentType: contentType)
        current.requestLines = lines
        if let upgrade {
            current.upgrade = upgrade
            current.closeAfterResponse = true  // the parser stops after an upgrade request
        }
        self.current = current
        if version.major != (isHTTP2Stream ? 2 : 1) {
            return fail(ProxyError(.badRequest, "unsupported HTTP version"), requestID: requestID)
        }
        if let declaredLength, declaredLength < 0 {
            current.closeAfterResponse = true
            return fail(ProxyError(.badRequest, "invalid content-length"), requestID: requestID)
        }
        if let declaredLength, declaredLength > runtime.limits.maxBodyBytes {
            return fail(ProxyError(.bodyTooLarge, "declared Content-Length over max_body_bytes"), requestID: requestID)
        }
        let begun = policy.begin(&request, client: client, requestID: requestID, cookieMemo: cookieMemo, cookie: cookie)
        // Consumed, not copied: the exchange moves on as the only copy.
        switch consume begun {
        case .failure(let error):
            fail(error, requestID: requestID)
        case .success(let exchange):
            resolveSession(request: consume request, exchange: exchange)
        }
    }

    static func isIdempotent(_ method: HTTPRequest.Method) -> Bool {
        switch method {
        case .get, .head, .options, .put, .delete, .trace: return true
        default: return false
        }
    }

    func receivedBody(_ buffer: ByteBuffer) {
        guard let current else { return }
        switch state {
        case .localResponse, .closed, .idle: return
        default: break
        }
        current.bodyBytes += buffer.readableBytes
        if state == .collectingLocalBody {
            guard current.bodyBytes <= BuiltinLogin.maxBodyBytes else {
                return fail(ProxyError(.bodyTooLarge, "login body over \(BuiltinLogin.maxBodyBytes) bytes"), requestID: current.exchange?.requestID)
            }
            current.localBody.append(contentsOf: buffer.readableBytesView)
            return
        }
        if current.bodyBytes > runtime.limits.maxBodyBytes {
            return fail(ProxyError(.bodyTooLarge, "request body over max_body_bytes"), requestID: current.exchange?.requestID)
        }
        if let upstream = current.upstream {
            guard upstream.writeBody(buffer) else { return requestBodyBrokeFraming() }
            upstreamNeedsFlush = true
        } else {
            current.pendingBody.append(buffer)
        }
    }

    func receivedEnd() {
        guard current != nil else { return }
        current!.requestEnded = true
        switch state {
        case .localResponse, .closed, .idle: return
        case .collectingLocalBody: return submitLocalBody()
        default: break
        }
        if let upstream = current!.upstream {
            guard upstream.writeEnd() else { return requestBodyBrokeFraming() }
            upstreamNeedsFlush = true
            startResponseTimer()
        }
    }

    /// The body did not fit the framing the upstream head declared (more or fewer bytes than
    /// the declared length). The upstream connection is closed already; nothing of the excess
    /// reached it. 400, and the client connection closes: its framing cannot be trusted.
    func requestBodyBrokeFraming() {
        current?.upstream = nil
        current?.closeAfterResponse = true
        fail(ProxyError(.badRequest, "\(UpstreamFramingViolation())"), requestID: current?.exchange?.requestID)
    }

    // MARK: Outbound and back-pressure

    var holdsReads: Bool {
        if current != nil && inbound.readableBytes > 0 && parser?.isAtHead == true { return true }
        switch state {
        case .awaitingStore, .awaitingUpstream: return true
        case .forwarding, .streamingResponse, .applyingEffects:
            if let upstream = current?.upstream, !current!.requestEnded { return !upstream.isWritable }
            return false
        default: return false
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readPending = true
            return
        }
        context.read()
    }

    func resumeClientReads() {
        if readPending && !holdsReads {
            readPending = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { current?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        endConnection()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent, !isHTTP2Stream else {
            return context.fireUserInboundEventTriggered(event)
        }
        quiescing = true
        if current == nil && state == .idle {
            state = .closed
            context.close(promise: nil)
        } else {
            current?.closeAfterResponse = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        current?.upstream?.abort()
        state = .closed
        context.close(promise: nil)
    }
}
