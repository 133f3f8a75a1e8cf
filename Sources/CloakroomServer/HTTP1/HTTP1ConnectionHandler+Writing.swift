import HTTPTypes
import NIOHTTP1
import NIOCore

/// The state of the response an HTTP/1.1 connection is writing.
struct HTTP1ResponseWriting {
    /// The request's version, which the response's status line carries.
    var version = HTTPVersion.http1_1
    /// Response heads are written into this buffer, reused from one response to the next: NIO
    /// lets go of it once written, so clearing it finds it unshared and keeps its memory.
    var headBuffer = ByteBuffer()
    /// ``headBuffer`` holds a head not yet written: a small body that follows in the same read
    /// is copied in after it (chunked by the proxy, framed there too), so the whole response
    /// goes out as one buffer (one pipeline write, one `write` instead of a `writev`), and a
    /// response that breaks within that read can still be taken back for a 502. Every other
    /// write and every flush releases it.
    var headHeld = false
    /// The body is chunked by the proxy (HTTP/1.1, no length).
    var chunked = false
    /// The response has no body (HEAD, 1xx, 204, 304).
    var bodyless = false
    /// The body ends with the connection (HTTP/1.0, no length).
    var closesForFraming = false
    var needsFlush = false

    /// Bodies up to this size are copied in after a held head.
    static let heldBodyLimit = 2048

    /// Decides a response's framing from its status, whether it has a length and whether the
    /// connection ends after it, and returns the connection field to add.
    mutating func frame(code: Int, isHEAD: Bool, hasLength: Bool, closeClient: Bool) -> StaticString? {
        bodyless = isHEAD || code < 200 || code == 204 || code == 304
        let delimited = bodyless || hasLength
        chunked = !delimited && version == .http1_1
        closesForFraming = !delimited && version != .http1_1
        let close = closeClient || closesForFraming
        return close ? "Connection: close\r\n" : version == .http1_0 ? "Connection: keep-alive\r\n" : nil
    }
}

// Writing responses as bytes: the transport half of ``HTTP1ConnectionHandler``.
extension HTTP1ConnectionHandler {
    func writeContinue() {
        releaseHeldHead()
        context?.write(wrapOutboundOut(Self.continueHead), promise: nil)
        writing.needsFlush = true
    }

    func writeResponseHead(_ response: HTTPResponse, closeClient: Bool) {
        guard let context else { return }
        let extra = writing.frame(
            code: response.status.code, isHEAD: exchange?.machine.facts.isHEAD ?? false,
            hasLength: response.headerFields.contains(.contentLength), closeClient: closeClient)
        releaseHeldHead()
        writing.headBuffer.clear()
        HTTP1Writer.writeResponseHead(response, version: writing.version, extra: extra, chunked: writing.chunked, into: &writing.headBuffer)
        context.write(wrapOutboundOut(writing.headBuffer), promise: nil)
        writing.needsFlush = true
    }

    /// Held, not written: see ``HTTP1ResponseWriting/headHeld``.
    func writeResponseHead(_ head: UpstreamResponseHead, requestID: String, closeClient: Bool) -> Bool {
        releaseHeldHead()
        let extra = writing.frame(
            code: head.code, isHEAD: exchange?.machine.facts.isHEAD ?? false, hasLength: head.hasContentLength, closeClient: closeClient)
        writing.headBuffer.clear()
        HTTP1Writer.writeResponseHead(
            head, version: writing.version, requestID: requestID, extra: extra, chunked: writing.chunked, into: &writing.headBuffer)
        writing.headHeld = true
        writing.needsFlush = true
        return true
    }

    /// Writes the held response head, and whatever body was copied in after it.
    private func releaseHeldHead() {
        guard writing.headHeld else { return }
        writing.headHeld = false
        context?.write(wrapOutboundOut(writing.headBuffer), promise: nil)
    }

    func writeResponseBody(_ buffer: ByteBuffer) {
        guard let context, !writing.bodyless, buffer.readableBytes > 0 else { return }
        writing.needsFlush = true
        let limit = HTTP1ResponseWriting.heldBodyLimit
        if writing.headHeld && buffer.readableBytes <= limit && writing.headBuffer.readableBytes + buffer.readableBytes <= 2 * limit {
            if writing.chunked { HTTP1Writer.writeChunkHeader(buffer.readableBytes, into: &writing.headBuffer) }
            writing.headBuffer.writeImmutableBuffer(buffer)
            if writing.chunked { writing.headBuffer.writeStaticString("\r\n") }
            return
        }
        releaseHeldHead()
        guard writing.chunked else { return context.write(wrapOutboundOut(buffer), promise: nil) }
        var header = context.channel.allocator.buffer(capacity: 24)
        HTTP1Writer.writeChunkHeader(buffer.readableBytes, into: &header)
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(buffer), promise: nil)
        context.write(wrapOutboundOut(Self.crlf), promise: nil)
    }

    /// Ends the response and flushes; `promise` completes once it is written.
    func writeEnd(promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        writing.needsFlush = false
        if writing.headHeld {
            writing.headHeld = false
            if writing.chunked { writing.headBuffer.writeImmutableBuffer(Self.lastChunk) }
            context.writeAndFlush(wrapOutboundOut(writing.headBuffer), promise: promise)
        } else if writing.chunked {
            context.writeAndFlush(wrapOutboundOut(Self.lastChunk), promise: promise)
        } else if let promise {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        } else {
            context.flush()
        }
    }

    func retractResponseHead() -> Bool {
        guard writing.headHeld else { return false }
        writing.headHeld = false
        writing.headBuffer.clear()
        writing.needsFlush = false
        return true
    }

    func flush() {
        guard writing.needsFlush, let context else { return }
        writing.needsFlush = false
        releaseHeldHead()
        context.flush()
    }

    private static let continueHead = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
