import CloakroomProxy
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Serves one HTTP/2 client connection, above NIO's HTTP/2 handler in frame mode (no stream
/// multiplexer, no channel per stream): NIO does the frame codec, HPACK, the connection and
/// stream state rules, `content-length` checks, outbound flow-control buffering and its DoS
/// limits; this handler keeps the stream table, each stream an ``HTTP2ServerStream`` driving
/// one ``ExchangeDriver``, and what NIO's multiplexer would have done: request heads mapped to
/// swift-http-types (``HTTP2RequestHead``), inbound flow control (``HTTP2InboundWindow``), the
/// client timeouts and the graceful shutdown (``HTTP2ConnectionLifecycle``).
///
/// RFC 9113 as the connection sees it:
/// - A stream error ends that stream only (§5.4.2): NIO resets it and reports the error, and
///   the connection goes on. A connection error (NIO wrote GOAWAY) closes the connection.
/// - Streams past `client.max_concurrent_streams` are refused one by one with REFUSED_STREAM
///   (§5.1.2); NIO enforces a higher limit (``HTTP2Pipeline``). More than
///   ``refusalLimit`` refusals within ``refusalWindow`` is a flood: GOAWAY ENHANCE_YOUR_CALM.
/// - A request head whose HEADERS frame leaves the stream open and declares no length is held
///   until the stream's next frame or the end of the read, so an empty DATA with END_STREAM in
///   the same read still makes it a request without a body (``ClientRequestHead/bodyMayFollow``).
///
/// Writes are flushed once per read batch, or at once outside one; below NIO's handler,
/// ``FlushCoalescer`` makes the flushes of one event-loop tick one socket write.
///
/// - Important: Loop-bound: every method runs on the connection's event loop.
final class HTTP2ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// What the connection is configured with, fixed when it opens.
    struct Settings {
        var maxConcurrentStreams: Int
        /// SETTINGS_INITIAL_WINDOW_SIZE as advertised: each stream's inbound window.
        var streamWindow: Int
        /// The connection's inbound window: room for every stream's.
        var connectionWindow: Int
        var headerTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var bodyTimeout: TimeAmount
        /// `client.max_header_bytes`, as an HPACK header list size: a larger head gets 431.
        var maxHeaderListSize: Int
        /// After a response complete before its request: how long, and how many more body
        /// bytes, the client may go on sending before its stream is reset.
        var lingerTime = TimeAmount.seconds(2)
        var lingerBytes = 1 << 20
    }

    static let refusalLimit = 200
    static let refusalWindow = TimeAmount.seconds(30)

    let connection: ClientConnection
    let eventLoop: any EventLoop
    let deadlines: StreamDeadlines
    let settings: Settings
    var bodyTimeout: TimeAmount { settings.bodyTimeout }
    var context: ChannelHandlerContext?
    private(set) var allocator = ByteBufferAllocator()

    var streams: [HTTP2StreamID: HTTP2ServerStream] = [:]
    var lifecycle: HTTP2ConnectionLifecycle
    var connectionWindow: HTTP2InboundWindow
    var connectionIncrementDue = 0
    /// Streams owing the peer a WINDOW_UPDATE.
    var windowUpdatesDue: [HTTP2ServerStream] = []
    var streamWindowTarget: Int

    private(set) var inReadBatch = false
    var batchNow: NIODeadline?
    var needsFlush = false
    private(set) var channelWritable = true
    /// Streams whose request head waits for the read's end (see the type's comment).
    var heldStarts: [HTTP2ServerStream] = []
    /// Streams that started or were given body bytes in this read: their upstream writes are
    /// flushed at its end.
    var touchedStreams: [HTTP2ServerStream] = []
    /// Request field lines, reused from one head to the next.
    var lines = ByteBuffer()

    /// Between the wire guard's marks: NIO is decoding a read.
    var nioDecoding = false
    /// After the last read, a header block was partly received (``HTTP2WireGuard``).
    var headerBlockPending = false
    /// NIO wrote a GOAWAY of its own: a connection error.
    var nioWroteGoAway = false
    /// This handler is writing a frame (NIO's errors during it concern that write).
    var writing = false
    /// This handler is writing a GOAWAY of its own.
    var ownGoAway = false
    var peerWentAway = false

    var refusals = 0
    var refusalWindowStart: NIODeadline?
    /// Streams to reset with NO_ERROR once their response's END_STREAM went out.
    var resetsDue: [(HTTP2StreamID, HTTP2ErrorCode, evenIfClosed: Bool)] = []

    var timer: Scheduled<Void>?
    /// Runs while the socket takes no more bytes: the client stopped reading altogether.
    private var sendStall: Scheduled<Void>?
    var timerAt: NIODeadline?
    /// At or before the earliest body deadline of any stream, nil when none is set.
    var bodyCheckAt: NIODeadline?

    init(connection: ClientConnection, eventLoop: any EventLoop, settings: Settings) {
        self.connection = connection
        self.eventLoop = eventLoop
        self.settings = settings
        self.deadlines = StreamDeadlines(eventLoop: eventLoop)
        self.lifecycle = HTTP2ConnectionLifecycle(headerTimeout: settings.headerTimeout, idleTimeout: settings.idleTimeout, now: eventLoop.now)
        self.connectionWindow = HTTP2InboundWindow(target: settings.connectionWindow)
        self.streamWindowTarget = settings.streamWindow
    }

    var logger: Logger { connection.runtime.logger }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        channelWritable = context.channel.isWritable
        armTimer()
    }

    /// Drops the context: kept, handler, context, pipeline and channel would outlive the
    /// connection in a cycle.
    func handlerRemoved(context: ChannelHandlerContext) {
        connectionEnded()
        self.context = nil
    }

    // MARK: Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBatch = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            receiveHeaders(frame.streamID, headers)
        case .data(let data):
            guard let stream = streams[frame.streamID] else { return }
            guard case .byteBuffer(let buffer) = data.data else { return }
            stream.receive(buffer, endStream: data.endStream, now: self.now)
            touch(stream)
        case .goAway:
            peerWentAway = true
            if streams.isEmpty { closeConnection() }
        default:
            break  // SETTINGS, PING, WINDOW_UPDATE, PRIORITY: NIO's; RST_STREAM: its StreamClosedEvent
        }
    }

    private func receiveHeaders(_ id: HTTP2StreamID, _ payload: HTTP2Frame.FramePayload.Headers) {
        if let stream = streams[id] {
            // Trailers: checked, then dropped; NIO's stream state checked they end the stream.
            if let problem = HTTP2FieldRules.trailerProblem(payload.headers.lazy.map { ($0.name, $0.value) }) {
                logger.debug("malformed HTTP/2 trailers: stream reset", metadata: ["stream": "\(id)", "detail": "\(problem)"])
                stream.reset(.protocolError)
                return
            }
            stream.receive(nil, endStream: payload.endStream, now: self.now)
            return
        }
        guard streams.count < settings.maxConcurrentStreams else { return refuse(id) }
        let stream = HTTP2ServerStream(id: id, handler: self, windowTarget: streamWindowTarget)
        streams[id] = stream
        lifecycle.streamOpened(id)
        let endStream = payload.endStream
        switch HTTP2RequestHead.make(
            payload.headers, secure: connection.client.isSecure, endStream: endStream, maxListSize: settings.maxHeaderListSize, lines: &lines)
        {
        case .success(let head):
            if !endStream && head.framing.contentLength == nil {
                stream.heldHead = head
                heldStarts.append(stream)
            } else {
                stream.start(head, endStream: endStream)
            }
        case .failure(.malformed(let detail)):
            // 400, then RST_STREAM PROTOCOL_ERROR (``HTTP2ServerStream/endsWithProtocolError``).
            stream.endsWithProtocolError = true
            _ = ExchangeDriver.malformed(.malformed(detail), requestID: nil, on: stream)
        case .failure(.badRequest(let detail)):
            _ = ExchangeDriver.malformed(.malformed(detail), requestID: nil, on: stream)
        case .failure(.tooLarge):
            _ = ExchangeDriver.malformed(HTTP1WireError(kind: .headersTooLarge, detail: "head too large"), requestID: nil, on: stream)
        }
    }

    /// RFC 9113 §5.1.2: a stream past the advertised limit is refused, not the connection.
    private func refuse(_ id: HTTP2StreamID) {
        let now = self.now
        if let start = refusalWindowStart, now - start < Self.refusalWindow {
            refusals += 1
        } else {
            refusalWindowStart = now
            refusals = 1
        }
        guard refusals <= Self.refusalLimit else {
            logger.info("HTTP/2 client keeps opening streams past the limit: closing", metadata: ["client": "\(connection.client.address)"])
            return goAway(lastStreamID: lifecycle.lastStreamID, code: .enhanceYourCalm, close: true)
        }
        write(HTTP2Frame(streamID: id, payload: .rstStream(.refusedStream)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        for stream in heldStarts { stream.releaseHeldHead(bodyMayFollow: true) }
        heldStarts.removeAll(keepingCapacity: true)
        inReadBatch = false
        batchNow = nil
        for stream in touchedStreams {
            stream.isTouched = false
            stream.driver?.flushUpstreamIfNeeded()
        }
        touchedStreams.removeAll(keepingCapacity: true)
        flushNow()
    }

    /// `stream`'s exchange may have written upstream in this read.
    func touch(_ stream: HTTP2ServerStream) {
        guard inReadBatch, !stream.isTouched else { return }
        stream.isTouched = true
        touchedStreams.append(stream)
    }

    /// The time, read once per read batch.
    var now: NIODeadline {
        guard inReadBatch else { return eventLoop.now }
        if let batchNow { return batchNow }
        let now = eventLoop.now
        batchNow = now
        return now
    }

    // MARK: Events

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let event as NIOHTTP2WindowUpdatedEvent:
            guard let size = event.inboundWindowSize else { return }
            if event.streamID == .rootStream {
                if let increment = connectionWindow.windowChanged(to: size) { connectionIncrementDue += increment }
            } else if let stream = streams[event.streamID], let increment = stream.window.windowChanged(to: size) {
                owe(increment, on: stream)
            }
        case let event as StreamClosedEvent:
            streamClosed(event.streamID)
        case is NIOHTTP2StreamCreatedEvent:
            break  // one per stream: matched here, before the rarer events' casts
        case let event as NIOHTTP2BulkStreamWindowChangeEvent:
            streamWindowTarget += event.delta
            for stream in streams.values {
                if let increment = stream.window.targetChanged(by: event.delta) { owe(increment, on: stream) }
            }
        case is ChannelShouldQuiesceEvent:
            connection.quiescing = true
            perform(lifecycle.quiesce())
        default:
            break
        }
    }

    /// NIO raises `StreamClosedEvent` while it takes the stream's last frame, before that
    /// frame is on its way out: a close here would drop it (the last response of a draining
    /// connection, found by an audit). So the connection closes once NIO is done writing.
    private func streamClosed(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.streamClosed()
        var closes = peerWentAway && streams.isEmpty
        switch lifecycle.streamClosed(now: now) {
        case .close: closes = true
        case let action: perform(action)
        }
        if closes {
            eventLoop.assumeIsolated().execute { [self] in closeConnection() }
        }
    }

    /// A client that takes no bytes at all for `client.body_timeout` (the socket stays
    /// unwritable) loses the connection, as on HTTP/1.1 (found by an audit: such clients held
    /// their streams and upstream connections forever).
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        channelWritable = context.channel.isWritable
        guard channelWritable else {
            if sendStall == nil { armSendStall(progress: SendProgress(context.channel)) }
            return
        }
        sendStall?.cancel()
        sendStall = nil
        for stream in streams.values { stream.connectionWritable() }
    }

    /// A client that took some of what was written within the period is watched for another
    /// (``SendProgress``); one that took nothing loses the connection, its streams `timeout`.
    private func armSendStall(progress: SendProgress) {
        sendStall = eventLoop.assumeIsolated().scheduleTask(in: bodyTimeout) { [self] in
            guard !channelWritable, let context else { return }
            var progress = progress
            if progress.advanced(context.channel) { return armSendStall(progress: progress) }
            for stream in streams.values { stream.sendTimedOut = true }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
    }

    /// The connection is gone: every stream's exchange ends with it.
    private func connectionEnded() {
        lifecycle.closed()
        timer?.cancel()
        timer = nil
        sendStall?.cancel()
        sendStall = nil
        deadlines.cancel()
        let open = streams
        streams = [:]
        for stream in open.values { stream.streamClosed() }
        heldStarts = []
        touchedStreams = []
        windowUpdatesDue = []
    }

    /// NIO reports stream errors and connection errors alike. A connection error is one for
    /// which it wrote a GOAWAY (or one NIO did not raise: TLS, I/O, an error while this handler
    /// wrote); the connection closes. A stream error raised while NIO decoded (it reset the
    /// stream), or one about a stream this handler wrote to, leaves the connection serving.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let streamLevel = !nioWroteGoAway && (error is NIOHTTP2Errors.StreamError || (nioDecoding && !writing && error is any NIOHTTP2Error))
        if streamLevel {
            logger.debug("HTTP/2 stream error", metadata: ["error": "\(error)"])
            return
        }
        logger.debug("HTTP/2 connection error", metadata: ["error": "\(error)"])
        if !nioWroteGoAway && !writing && context.channel.isActive {
            goAway(lastStreamID: lifecycle.lastStreamID, code: .internalError, close: true)
        } else {
            closeConnection()
        }
    }
}
