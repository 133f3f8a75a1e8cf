import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Connects one HTTP/2 stream (behind NIO's HTTP/2 → HTTP/1 message codec) to the
/// ``HTTP1ProxyHandler`` above it: hands it the request as a ``ClientRequestHead`` and body
/// parts by direct calls, and writes its response as HTTP/1-style message parts for the codec.
/// (On an HTTP/1.1 connection the proxy handler parses and writes bytes itself.)
final class HTTP2StreamBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let proxy: HTTP1ProxyHandler
    private var context: ChannelHandlerContext?
    private let secure: Bool

    init(proxy: HTTP1ProxyHandler, secure: Bool) {
        self.proxy = proxy
        self.secure = secure
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        proxy.inReadBatch = true
        switch unwrapInboundIn(data) {
        case .head(var head):
            Self.joinCookieCrumbs(&head.headers)
            let framing = FramingFields(head.headers)
            do {
                let request = try HTTPRequest(http1: head, secure: secure)
                proxy.receivedHead(ClientRequestHead(request: request, version: head.version, keepAlive: head.isKeepAlive, framing: framing))
            } catch {
                proxy.receivedMalformedHead(HTTP1WireError.malformed("\(error)"), requestID: framing.requestID)
            }
        case .body(let buffer):
            proxy.receivedBody(buffer)
        case .end:
            proxy.receivedEnd()
        }
    }

    /// RFC 9113 §8.2.3: an HTTP/2 client may split `cookie` into several fields; they are
    /// joined with "; " into one before anything reads them.
    /// Counts the fields first: `headers[canonicalForm:]` splits every value at commas, which
    /// cost more than the rest of the request head on the HTTP/2 path.
    static func joinCookieCrumbs(_ headers: inout HTTPHeaders) {
        var fields = 0
        for (name, _) in headers where name.utf8.count == 6 && name.lowercased() == "cookie" { fields += 1 }
        guard fields > 1 else { return }
        headers.replaceOrAdd(name: "cookie", value: headers["cookie"].joined(separator: "; "))
    }

    // MARK: Written by the proxy handler

    func writeHead(_ response: HTTPResponse) {
        context?.write(wrapOutboundOut(.head(HTTPResponseHead(http1For: response, version: .http2))), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func writeEnd(promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func flush() { context?.flush() }
}
