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
        releaseHeldHead()
        headBuffer.clear()
        HTTP1Writer.writeResponseHead(response, version: current.version, extra: extra, chunked: current.responseChunked, into: &headBuffer)
        context.write(wrapOutboundOut(headBuffer), promise: nil)
        downstreamNeedsFlush = true
    }

    /// An upstream's head that needs only the field rule (HTTP/1.1 connections). The head is
    /// held in ``headBuffer`` rather than written: a small body that follows in the same read
    /// is copied in after it, so the whole response goes out as one buffer (one pipeline write,
    /// one `write` instead of a `writev`). Every other write and every flush releases it first.
    func downstreamHead(_ head: UpstreamResponseHead, requestID: String, close: Bool) {
        guard let current else { return }
        releaseHeldHead()
        let extra = http1Framing(current, code: head.code, hasLength: head.hasContentLength, close: close)
        headBuffer.clear()
        HTTP1Writer.writeResponseHead(
            head, version: current.version, requestID: requestID, extra: extra, chunked: current.responseChunked, into: &headBuffer)
        headHeld = true
        downstreamNeedsFlush = true
    }

    /// Writes the held response head, and whatever body was copied in after it.
    func releaseHeldHead() {
        guard headHeld else { return }
        headHeld = false
        context.write(wrapOutboundOut(headBuffer), promise: nil)
    }

    /// Bodies up to this size are copied in after a held head.
    static let heldBodyLimit = 2048

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
            releaseHeldHead()
            context.write(wrapOutboundOut(Self.continueHead), promise: nil)
        }
        downstreamNeedsFlush = true
    }

    func downstreamBody(_ buffer: ByteBuffer) {
        guard let current, !current.responseBodyless, buffer.readableBytes > 0 else { return }
        downstreamNeedsFlush = true
        if let bridge { return bridge.writeBody(buffer) }
        if headHeld && !current.responseChunked && buffer.readableBytes <= Self.heldBodyLimit
            && headBuffer.readableBytes + buffer.readableBytes <= 2 * Self.heldBodyLimit
        {
            headBuffer.writeImmutableBuffer(buffer)
            return
        }
        releaseHeldHead()
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
        if headHeld {
            headHeld = false
            if chunked { headBuffer.writeImmutableBuffer(Self.lastChunk) }
            context.writeAndFlush(wrapOutboundOut(headBuffer), promise: promise)
        } else if chunked {
            context.writeAndFlush(wrapOutboundOut(Self.lastChunk), promise: promise)
        } else if let promise {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        } else {
            context.flush()
        }
    }

    func flushDownstream() {
        downstreamNeedsFlush = false
        if let bridge { return bridge.flush() }
        releaseHeldHead()
        context.flush()
    }

    private static let continueHead = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
