import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// Connects one HTTP/2 stream (behind NIO's HTTP/2 → swift-http-types codec) to the
/// ``HTTP1ProxyHandler`` above it: hands it the request as a ``ClientRequestHead`` and body
/// parts by direct calls, and writes its response as swift-http-types message parts.
/// (On an HTTP/1.1 connection the proxy handler parses and writes bytes itself.)
final class HTTP2StreamBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The handler above, which holds this bridge; both live as long as the stream's pipeline.
    private unowned let proxy: HTTP1ProxyHandler
    private var context: ChannelHandlerContext?
    private let secure: Bool

    init(proxy: HTTP1ProxyHandler, secure: Bool) {
        self.proxy = proxy
        self.secure = secure
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// A request head held until it is known whether a body follows it (see ``channelRead(context:data:)``).
    private var heldHead: HTTPRequest?

    /// The codec hands on END_STREAM on HEADERS as the head and then the end, within the same
    /// read: the head waits for what comes next (the end, a body part, or the end of the read
    /// batch) so the upstream framing knows whether a body can follow a request without
    /// `content-length` (``UpstreamFraming``).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        proxy.inReadBatch = true
        switch unwrapInboundIn(data) {
        case .head(let request):
            releaseHeldHead(bodyMayFollow: true)
            heldHead = request
        case .body(let buffer):
            releaseHeldHead(bodyMayFollow: true)
            proxy.receivedBody(buffer)
        case .end:
            releaseHeldHead(bodyMayFollow: false)
            proxy.receivedEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        releaseHeldHead(bodyMayFollow: true)
        context.fireChannelReadComplete()
    }

    private func releaseHeldHead(bodyMayFollow: Bool) {
        guard let request = heldHead.take() else { return }
        let framing = FramingFields(request.headerFields)
        guard var head = Self.head(request, secure: secure, framing: framing) else {
            return proxy.receivedMalformedHead(.malformed("no authority, or a path not in origin form"), requestID: framing.requestID)
        }
        head.bodyMayFollow = bodyMayFollow
        proxy.receivedHead(head)
    }

    /// The request as the policy sees it (nil when unusable): a path in origin form (or `*` for
    /// `OPTIONS`), the authority from `:authority`, else from a single
    /// `host` field (RFC 9113 §8.3.1), which then leaves the fields; the scheme the listener's.
    /// `cookie` crumbs (RFC 9113 §8.2.3) stay separate fields: the policy and the upstream
    /// writer read them all.
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

    // MARK: Written by the proxy handler

    func writeHead(_ response: HTTPResponse) {
        context?.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(buffer)), promise: nil)
    }

    func writeEnd(promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func flush() { context?.flush() }

    /// `RST_STREAM` with `NO_ERROR` after a complete response: the rest of the request body is
    /// not wanted.
    func stopRequestBody() {
        context?.triggerUserOutboundEvent(NIOHTTP2FramePayloadToHTTPEvent.reset(code: .noError), promise: nil)
    }
}

extension HTTPField.Name {
    /// `Host`, which swift-http-types leaves out of its common names (it is `authority`).
    static let host = HTTPField.Name("Host")!
}
