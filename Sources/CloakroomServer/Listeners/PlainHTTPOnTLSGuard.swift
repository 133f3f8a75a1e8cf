import CloakroomProxy
import NIOCore

/// The first handler on a TLS listener's connection, ahead of the TLS handler: a client that
/// speaks plain HTTP to the TLS port (`http://` where `https://` was meant) gets a readable
/// 400 instead of a TLS alert it cannot show, as nginx answers "The plain HTTP request was sent
/// to HTTPS port". A TLS record starts with its content type (22, a handshake, for the first
/// one); an HTTP/1.x request line or the HTTP/2 preface starts with an upper-case method
/// token. Anything else is left to the TLS handler to refuse.
///
/// Like every early error, the answer is followed by a lingering close: the proxy stops
/// writing, reads and drops what still comes for a short while, then closes.
final class PlainHTTPOnTLSGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let lingerTime = TimeAmount.seconds(2)
    private static let tlsHandshakeRecord: UInt8 = 22

    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }  // lingering: dropped
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.readableBytesView.first else { return }
        guard first != Self.tlsHandshakeRecord, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        answered = true
        let response = ProxyError(.badRequest, "plain HTTP on a TLS listener").response(requestID: RequestIDGenerator().next())
        var head = "HTTP/1.1 400 Bad Request\r\n"
        for field in response.head.headerFields { head += "\(field.name.rawName): \(field.value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + response.body.count)
        buffer.writeString(head)
        buffer.writeBytes(response.body)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        let halfClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: halfClosed)
        halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { context.close(promise: nil) }
    }
}
