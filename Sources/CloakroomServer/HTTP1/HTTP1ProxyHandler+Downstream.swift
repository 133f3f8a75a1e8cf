import HTTPTypes
import NIOCore

// Writing the response to the client: bytes on an HTTP/1.1 connection (framing and connection
// management decided here), message parts through the bridge on an HTTP/2 stream.
extension HTTP1ProxyHandler {
    /// Writes a response head. On HTTP/1.1: in the client's version, chunked when the body has
    /// no length (HTTP/1.1) or delimited by the close (HTTP/1.0), with `Connection: close` when
    /// the connection ends after it.
    func downstreamHead(_ response: HTTPResponse, close: Bool) {
        guard let current else { return }
        if let bridge {
            let code = response.status.code
            current.responseBodyless = current.isHEAD || code < 200 || code == 204 || code == 304
            bridge.writeHead(response)
            downstreamNeedsFlush = true
            return
        }
        let extra = http1Framing(current, code: response.status.code, hasLength: response.headerFields.contains(.contentLength), close: close)
        var buffer = context.channel.allocator.buffer(capacity: 512)
        HTTP1Writer.writeResponseHead(response, version: current.version, extra: extra, chunked: current.responseChunked, into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        downstreamNeedsFlush = true
    }

    /// An upstream's head that needs only the field rule (HTTP/1.1 connections).
    func downstreamHead(_ head: UpstreamResponseHead, requestID: String, close: Bool) {
        guard let current else { return }
        let extra = http1Framing(current, code: head.code, hasLength: head.hasContentLength, close: close)
        var buffer = context.channel.allocator.buffer(capacity: 0)
        HTTP1Writer.writeResponseHead(
            head, version: current.version, requestID: requestID, extra: extra, chunked: current.responseChunked, into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        downstreamNeedsFlush = true
    }

    /// Decides an HTTP/1.1 response's framing (records it in `current`) and returns the
    /// connection management field to add.
    private func http1Framing(_ current: Current, code: Int, hasLength: Bool, close: Bool) -> StaticString? {
        current.responseBodyless = current.isHEAD || code < 200 || code == 204 || code == 304
        var close = close
        let delimited = current.responseBodyless || hasLength
        current.responseChunked = !delimited && current.version == .http1_1
        if !delimited && current.version != .http1_1 {
            close = true  // the body ends with the connection
            current.closeAfterResponse = true
        }
        return close ? "connection: close\r\n" : current.version == .http1_0 ? "connection: keep-alive\r\n" : nil
    }

    /// `100 Continue`, before the request body is read.
    func downstreamContinue() {
        if let bridge {
            bridge.writeHead(HTTPResponse(status: .continue))
        } else {
            context.write(wrapOutboundOut(Self.continueHead), promise: nil)
        }
        downstreamNeedsFlush = true
    }

    func downstreamBody(_ buffer: ByteBuffer) {
        guard let current, !current.responseBodyless, buffer.readableBytes > 0 else { return }
        downstreamNeedsFlush = true
        if let bridge { return bridge.writeBody(buffer) }
        guard current.responseChunked else { return context.write(wrapOutboundOut(buffer), promise: nil) }
        var header = context.channel.allocator.buffer(capacity: 24)
        HTTP1Writer.writeChunkHeader(buffer.readableBytes, into: &header)
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(buffer), promise: nil)
        context.write(wrapOutboundOut(Self.crlf), promise: nil)
    }

    /// Ends the response and flushes; `promise` completes once it is written.
    func downstreamEnd(chunked: Bool, promise: EventLoopPromise<Void>?) {
        downstreamNeedsFlush = false
        if let bridge { return bridge.writeEnd(promise: promise) }
        if chunked {
            context.writeAndFlush(wrapOutboundOut(Self.lastChunk), promise: promise)
        } else if let promise {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        } else {
            context.flush()
        }
    }

    func flushDownstream() {
        downstreamNeedsFlush = false
        if let bridge { bridge.flush() } else { context.flush() }
    }

    private static let continueHead = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
