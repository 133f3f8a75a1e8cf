import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// One HTTP/2 stream, behind NIO's HTTP/2 → swift-http-types codec: hands its request to an
/// ``ExchangeDriver`` as a ``ClientRequestHead`` and body parts, and is the driver's
/// ``ExchangeTransport``, writing its response as swift-http-types message parts. (An HTTP/1.1
/// connection is its own transport: ``HTTP1ConnectionHandler``.)
final class HTTP2StreamBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let connection: ClientConnection
    let eventLoop: any EventLoop
    let responseDeadlines: any ResponseDeadlines
    private var context: ChannelHandlerContext?
    private var driver: ExchangeDriver?
    private(set) var inReadBatch = false
    private var readPending = false
    private var needsFlush = false
    /// A request head held until it is known whether a body follows it (see ``channelRead(context:data:)``).
    private var heldHead: HTTPRequest?
    /// The client ended its side of the stream (END_STREAM): a response needs no reset after it,
    /// even when it was answered before the driver saw the end.
    private var requestEnded = false

    init(connection: ClientConnection, eventLoop: any EventLoop, deadlines: StreamDeadlines) {
        self.connection = connection
        self.eventLoop = eventLoop
        self.responseDeadlines = deadlines
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        streamGone()
        self.context = nil
    }

    private func streamGone() {
        let driver = self.driver
        self.driver = nil
        driver?.clientGone(error: false)
    }

    /// The codec hands on END_STREAM on HEADERS as the head and then the end, within the same
    /// read: the head waits for what comes next (the end, a body part, or the end of the read
    /// batch) so the upstream framing knows whether a body can follow a request without
    /// `content-length` (``UpstreamFraming``).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadBatch = true
        switch unwrapInboundIn(data) {
        case .head(let request):
            releaseHeldHead(bodyMayFollow: true)
            heldHead = request
        case .body(let buffer):
            releaseHeldHead(bodyMayFollow: true)
            driver?.requestBody(buffer)
        case .end:
            requestEnded = true
            releaseHeldHead(bodyMayFollow: false)
            driver?.requestEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        releaseHeldHead(bodyMayFollow: true)
        inReadBatch = false
        driver?.flushUpstreamIfNeeded()
        flush()
    }

    private func releaseHeldHead(bodyMayFollow: Bool) {
        guard let request = heldHead.take(), driver == nil else { return }
        let framing = FramingFields(request.headerFields)
        guard var head = Self.head(request, secure: connection.client.isSecure, framing: framing) else {
            _ = ExchangeDriver.malformed(.malformed("no authority, or a path not in origin form"), requestID: framing.requestID, on: self)
            return
        }
        head.bodyMayFollow = bodyMayFollow
        _ = ExchangeDriver.start(head, on: self)
    }

    /// The request as the policy sees it (nil when unusable): a path in origin form (or `*` for
    /// `OPTIONS`), the authority from `:authority`, else from a single `host` field (RFC 9113
    /// §8.3.1), which then leaves the fields; the scheme the listener's. `cookie` crumbs (RFC
    /// 9113 §8.2.3) stay separate fields: the policy and the upstream writer read them all.
    static func head(_ request: HTTPRequest, secure: Bool, framing: FramingFields) -> ClientRequestHead? {
        guard let path = request.path, path.hasPrefix("/") || (path == "*" && request.method == .options) else { return nil }
        var request = request
        request.scheme = secure ? "https" : "http"
        if request.authority == nil {
            let hosts = request.headerFields[values: .host]
            guard hosts.count == 1 else { return nil }
            request.authority = hosts[0]
        }
        request.headerFields[.host] = nil
        return ClientRequestHead(request: request, version: .http2, keepAlive: true, framing: framing)
    }

    func read(context: ChannelHandlerContext) {
        if let driver, !driver.readsRequest {
            readPending = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { driver?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        streamGone()
        context.fireChannelInactive()
    }
}

extension HTTP2StreamBridge: ExchangeTransport {
    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func exchangeStarted(_ driver: ExchangeDriver) { self.driver = driver }

    func writeContinue() {
        context?.write(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        needsFlush = true
    }

    func writeResponseHead(_ response: HTTPResponse, closeClient: Bool) {
        context?.write(wrapOutboundOut(.head(response)), promise: nil)
        needsFlush = true
    }

    /// HTTP/2 heads are swift-http-types values: the driver builds the response.
    func writeResponseHead(_ head: UpstreamResponseHead, requestID: String, closeClient: Bool) -> Bool { false }

    func writeResponseBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(buffer)), promise: nil)
        needsFlush = true
    }

    func endResponse(_ finish: ExchangeStateMachine.Finish) {
        driver = nil
        needsFlush = false
        guard let context else { return }
        guard finish.requestUnfinished, !requestEnded else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        // RFC 9113 §8.1: a complete response before the whole request; the client is asked to
        // stop sending, without error (a CANCEL reset made curl spin on its upload). The reset
        // waits until the response has left: a stream reset drops the DATA frames still queued
        // for it (a local answer made as the head arrived lost its body).
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            bound.value.triggerUserOutboundEvent(NIOHTTP2FramePayloadToHTTPEvent.reset(code: .noError), promise: nil)
        }
    }

    func abort() {
        driver = nil
        context?.close(promise: nil)
    }

    func flush() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    func resumeReading() {
        guard readPending, let context else { return }
        if let driver, !driver.readsRequest { return }
        readPending = false
        context.read()
    }

    func switchToTunnel(head: HTTPResponse, upstream: UpstreamConnection, exchange: Exchange, upgrade: String) throws {
        throw ChannelError.operationUnsupported  // no HTTP/1.1 upgrade on an HTTP/2 stream
    }
}

extension HTTPField.Name {
    /// `Host`, which swift-http-types leaves out of its common names (it is `authority`).
    static let host = HTTPField.Name("Host")!
}
