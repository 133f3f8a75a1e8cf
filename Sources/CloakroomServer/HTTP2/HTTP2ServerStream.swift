import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream of a client connection: the ``ExchangeTransport`` of the exchange its
/// request started, served by the connection's ``HTTP2ConnectionHandler`` without a channel of
/// its own.
///
/// - **Request body**: DATA goes to the exchange while it reads (``ExchangeDriver/readsRequest``);
///   otherwise it waits here, and the stream's and the connection's windows stay closed by as
///   much (``HTTP2InboundWindow``) until the exchange takes it.
/// - **Response**: in as few frames as the data allows. The head and the latest body part are
///   held until the next part, the end or a flush, so a response known whole at once (a local
///   answer, a small upstream body read in one go) is HEADERS and one DATA with END_STREAM, and
///   a bodiless one a single HEADERS with END_STREAM.
/// - **Back-pressure**: response bytes handed to NIO and not yet sent (the peer's window is
///   closed, or the socket is full) count against ``isWritable``; the upstream stops being read
///   above ``highWatermark`` and resumes below ``lowWatermark``.
/// - **A response complete before its request** (an error answer to an upload, an upstream that
///   answered early): the rest of the request body is read and dropped for a short while
///   (``HTTP2ConnectionHandler/Settings/lingerTime``, ``HTTP2ConnectionHandler/Settings/lingerBytes``),
///   so a client that finishes its upload ends the stream cleanly; one that keeps sending gets
///   RST_STREAM `NO_ERROR` (RFC 9113 §8.1), never before the response's END_STREAM went out.
///   (curl 7.88 fails a transfer reset while it uploads, response or not: SPEC's "the client
///   can read the answer".)
///
/// - Important: Loop-bound: used on the connection's event loop only.
final class HTTP2ServerStream {
    static let highWatermark = 64 * 1024
    static let lowWatermark = 32 * 1024

    let id: HTTP2StreamID
    /// Strong: the connection lets go of the stream when NIO closes it; the exchange holds it.
    let handler: HTTP2ConnectionHandler
    var driver: ExchangeDriver?
    /// A request head waiting for the next frame to say whether a body follows (no
    /// `content-length`, no END_STREAM on HEADERS): see ``HTTP2ConnectionHandler``.
    var heldHead: ClientRequestHead?
    /// In the connection's list of streams touched in this read.
    var isTouched = false
    /// NIO closed the stream: nothing more is written.
    private(set) var closed = false
    /// END_STREAM came from the client.
    private(set) var remoteEnded = false

    // Request body waiting for the exchange.
    var window: HTTP2InboundWindow
    private var queue: [ByteBuffer] = []
    private var queuedEnd = false
    /// The increment owed to the peer, written at the next flush point.
    var windowIncrementDue = 0
    /// `client.body_timeout`: set while the client may send body bytes and none are held here.
    var bodyDeadline: NIODeadline?
    /// What the request's `content-length` still allows; nil without one.
    private var bodyBytesLeft: Int?

    // Response.
    var heldHeaders: HPACKHeaders?
    var heldData: ByteBuffer?
    var wroteFrames = false
    var unsentBytes = 0
    /// No response byte taken by then (`client.body_timeout` after the last): reset (found by an audit).
    var sendDeadline: NIODeadline?
    /// The proxy cut the stream (or its connection) for a client that took nothing for
    /// `client.body_timeout`: its exchange is logged `timeout` (found by an audit).
    var sendTimedOut = false
    var pausedUpstream = false
    /// The response's END_STREAM left NIO's buffers.
    private var endSent = false
    /// RST_STREAM `NO_ERROR` is due once END_STREAM is sent.
    var resetDue = false
    /// The request was malformed (RFC 9113 §8.1.1): its 400 ends with END_STREAM (curl dropped
    /// one without it when the reset came in the same read), then RST_STREAM PROTOCOL_ERROR.
    var endsWithProtocolError = false
    /// That reset waits for the 400's END_STREAM to leave NIO's buffers.
    var protocolErrorDue = false
    /// `client.body_timeout` passed: the 408, then RST_STREAM at once (no lingering).
    var stalled = false
    /// The response ended before the request: the rest of the body is dropped, up to this many
    /// bytes (and until ``bodyDeadline``), before the stream is reset.
    var lingerBytesLeft: Int?

    init(id: HTTP2StreamID, handler: HTTP2ConnectionHandler, windowTarget: Int) {
        self.id = id
        self.handler = handler
        self.window = HTTP2InboundWindow(target: windowTarget)
    }

    // MARK: Request

    /// Starts the exchange of `head`; `endStream` was on its HEADERS.
    func start(_ head: consuming ClientRequestHead, endStream: Bool) {
        if endStream { remoteEnded = true }
        handler.touch(self)
        if let declared = head.framing.contentLength.flatMap({ Int($0) }) {
            // RFC 9113 §8.1.1: END_STREAM on HEADERS is a body of 0 bytes.
            if endStream && declared > 0 {
                endsWithProtocolError = true
                _ = ExchangeDriver.malformed(.malformed("content-length \(declared) but no body"), method: head.request.method, requestID: nil, on: self)
                return
            }
            bodyBytesLeft = declared
        }
        _ = ExchangeDriver.start(head, on: self)
        // A body is due: `client.body_timeout` runs from the head, as on HTTP/1.1 (an exchange
        // answered at once, a 413, keeps the linger deadline its end set).
        if endStream {
            driver?.requestEnd()
        } else if driver != nil {
            updateBodyDeadline(handler.eventLoop.now)
        }
    }

    /// Starts the held head, if any.
    func releaseHeldHead(bodyMayFollow: Bool) {
        guard var head = heldHead.take() else { return }
        head.bodyMayFollow = bodyMayFollow
        start(head, endStream: false)
    }

    /// A DATA frame (or trailers, `buffer` nil) for this stream.
    func receive(_ buffer: ByteBuffer?, endStream: Bool, now: @autoclosure () -> NIODeadline) {
        if heldHead != nil {
            releaseHeldHead(bodyMayFollow: !(endStream && (buffer?.readableBytes ?? 0) == 0))
        }
        if endStream { remoteEnded = true }
        guard driver != nil else {
            // The exchange is over: dropped, the windows credited by NIO's report.
            if let left = lingerBytesLeft, !endStream {
                lingerBytesLeft = left - (buffer?.readableBytes ?? 0)
                if lingerBytesLeft! < 0 { stopLingering() }
            }
            return
        }
        if let left = bodyBytesLeft {
            bodyBytesLeft = left - (buffer?.readableBytes ?? 0)
            if bodyBytesLeft! < 0 || (endStream && bodyBytesLeft! > 0) { return bodyBrokeContentLength() }
        }
        if let buffer, buffer.readableBytes > 0 {
            if queue.isEmpty && driver!.readsRequest {
                driver?.requestBody(buffer)
            } else {
                queue.append(buffer)
                window.hold(buffer.readableBytes)
                handler.connectionHold(buffer.readableBytes)
            }
        }
        if endStream {
            if queue.isEmpty { driver?.requestEnd() } else { queuedEnd = true }
        }
        updateBodyDeadline(now())
    }

    /// RFC 9113 §8.1.1: DATA not adding up to `content-length` makes the request malformed: 400
    /// (the upstream, holding part of it, is closed), then RST_STREAM PROTOCOL_ERROR.
    private func bodyBrokeContentLength() {
        bodyBytesLeft = nil
        bodyDeadline = nil
        dropQueue()
        endsWithProtocolError = true
        driver?.fail(ProxyError(.badRequest, "request body does not add up to its content-length"))
    }

    /// Hands held body parts to the exchange while it reads; the windows reopen by as much.
    func drain() {
        var taken = 0
        while !queue.isEmpty, let driver, driver.readsRequest {
            let buffer = queue.removeFirst()
            taken += buffer.readableBytes
            driver.requestBody(buffer)
        }
        if taken > 0 { credit(taken) }
        if queue.isEmpty && queuedEnd, let driver {
            queuedEnd = false
            driver.requestEnd()
        }
        if taken > 0 { updateBodyDeadline(handler.eventLoop.now) }
    }

    /// Held bytes that will never be taken: the windows reopen.
    func dropQueue() {
        let held = queue.reduce(0) { $0 + $1.readableBytes }
        queue = []
        queuedEnd = false
        if held > 0 { credit(held) }
    }

    private func credit(_ count: Int) {
        if let increment = window.took(count), !closed && !remoteEnded { windowIncrementDue += increment }
        handler.connectionTook(count, from: self)
    }

    private func updateBodyDeadline(_ now: @autoclosure () -> NIODeadline) {
        if driver != nil && !remoteEnded && queue.isEmpty {
            let deadline = now() + handler.bodyTimeout
            bodyDeadline = deadline
            handler.bodyDeadlineSet(deadline)
        } else {
            bodyDeadline = nil
        }
    }

    /// The stream's deadline passed: `client.body_timeout` without a body byte (408 when
    /// nothing was answered yet, else the stream is reset: SPEC's "408, ... HTTP/2: that stream
    /// reset"), or the end of lingering after an early response.
    func bodyTimedOut() {
        bodyDeadline = nil
        if let driver {
            // A stalled client is not waited for again: the stream is reset once the 408 is out.
            stalled = true
            return driver.fail(ProxyError(.headerTimeout, "no request-body bytes within body_timeout"))
        }
        if lingerBytesLeft != nil { return stopLingering() }
        reset(.cancel)
    }

    /// The request did not end in time after the response: RST_STREAM `NO_ERROR` after END_STREAM.
    private func stopLingering() {
        lingerBytesLeft = nil
        bodyDeadline = nil
        if endSent { handler.resetAfterEnd(id) } else { resetDue = true }
    }

    // MARK: Stream end

    /// NIO closed the stream (both sides ended, a reset either way, or the connection went).
    func streamClosed() {
        guard !closed else { return }
        closed = true
        bodyDeadline = nil
        heldHead = nil
        heldHeaders = nil
        heldData = nil
        dropQueue()
        let driver = self.driver
        self.driver = nil
        driver?.clientGone(timedOut: sendTimedOut)
    }

    /// Resets the stream (RST_STREAM `code`); NIO closes it.
    func reset(_ code: NIOHTTP2.HTTP2ErrorCode) {
        guard !closed else { return }
        heldHeaders = nil
        heldData = nil
        handler.write(HTTP2Frame(streamID: id, payload: .rstStream(code)))
        handler.streamWantsFlush()
    }

    /// NIO sent `bytes` of this stream's DATA (`endStream`: with END_STREAM, on DATA or HEADERS).
    func sent(bytes: Int, endStream: Bool) {
        unsentBytes -= bytes
        sendDeadline = unsentBytes > 0 ? handler.now + handler.bodyTimeout : nil
        if protocolErrorDue && endStream {
            protocolErrorDue = false
            // Even on a stream closed now (the client had ended its side), as §8.1.1 asks.
            handler.resetAfterEnd(id, code: .protocolError, evenIfClosed: true)
        }
        if endStream {
            endSent = true
            if resetDue {
                resetDue = false
                handler.resetAfterEnd(id)
            }
        }
        if pausedUpstream && unsentBytes <= Self.lowWatermark {
            pausedUpstream = false
            driver?.upstream?.resumeReading()
        }
    }

    /// The socket can take bytes again.
    func connectionWritable() {
        guard isWritable else { return }
        pausedUpstream = false
        driver?.upstream?.resumeReading()
    }
}
