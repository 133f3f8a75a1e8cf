import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP2

// The response half of ``HTTP2ServerStream``: frames out, and the ``ExchangeTransport`` its
// exchange writes through.
extension HTTP2ServerStream {
    func writeHeaders(_ headers: HPACKHeaders, end: Bool) {
        wroteFrames = true
        handler.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: end))))
    }

    func writeData(_ buffer: ByteBuffer, end: Bool) {
        wroteFrames = true
        unsentBytes += buffer.readableBytes
        if sendDeadline == nil { sendDeadline = handler.now + handler.bodyTimeout; handler.bodyDeadlineSet(sendDeadline!) }
        if unsentBytes >= Self.highWatermark { pausedUpstream = true }
        handler.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(buffer), endStream: end))))
    }

    /// Writes what is held, without END_STREAM.
    func releaseHeld() {
        if let headers = heldHeaders.take() { writeHeaders(headers, end: false) }
        if let data = heldData.take() { writeData(data, end: false) }
    }
}

extension HTTP2ServerStream: ExchangeTransport {
    var eventLoop: any EventLoop { handler.eventLoop }
    var allocator: ByteBufferAllocator { handler.allocator }
    var connection: ClientConnection { handler.connection }
    var inReadBatch: Bool { handler.inReadBatch }
    var responseDeadlines: any ResponseDeadlines { handler.deadlines }
    var isWritable: Bool { !closed && unsentBytes < Self.highWatermark && handler.channelWritable }

    func exchangeStarted(_ driver: ExchangeDriver) { self.driver = driver }

    func writeContinue() {
        guard !closed else { return }
        writeHeaders(HPACKHeaders([(":status", "100")]), end: false)
        handler.streamWantsFlush()
    }

    func writeResponseHead(_ response: HTTPResponse, closeClient: Bool) {
        guard !closed else { return }
        releaseHeld()
        heldHeaders = HTTP2ResponseHead.headers(response)
    }

    func writeResponseHead(_ head: UpstreamResponseHead, requestID: String, closeClient: Bool) -> Bool {
        guard !closed else { return true }
        releaseHeld()
        heldHeaders = HTTP2ResponseHead.headers(head, requestID: requestID)
        return true
    }

    func writeResponseBody(_ buffer: ByteBuffer) {
        guard !closed, buffer.readableBytes > 0 else { return }
        if let data = heldData.take() {
            if let headers = heldHeaders.take() { writeHeaders(headers, end: false) }
            writeData(data, end: false)
        }
        heldData = buffer
    }

    func endResponse(_ finish: ExchangeStateMachine.Finish) {
        driver = nil
        bodyDeadline = nil
        dropQueue()
        guard !closed else { return }
        if endsWithProtocolError {
            guard let headers = heldHeaders.take() else { return reset(.protocolError) }
            let data = heldData.take()
            protocolErrorDue = true  // the reset follows END_STREAM once sent (``sent(bytes:endStream:)``)
            writeHeaders(headers, end: data == nil)
            if let data { writeData(data, end: true) }
            handler.streamWantsFlush()
            return
        }
        // RFC 9113 §8.1: a complete response before the whole request. The client may finish
        // sending for a while; then it is asked to stop, without error, once the response is
        // out (a reset sent before it would drop frames still in NIO's flow-control buffer).
        if finish.requestUnfinished && !remoteEnded && stalled {
            resetDue = true
        } else if finish.requestUnfinished && !remoteEnded {
            lingerBytesLeft = handler.settings.lingerBytes
            let deadline = handler.now + handler.settings.lingerTime
            bodyDeadline = deadline
            handler.bodyDeadlineSet(deadline)
        }
        let data = heldData.take()
        if let headers = heldHeaders.take() {
            writeHeaders(headers, end: data == nil)
            if let data { writeData(data, end: true) }
        } else if let data {
            writeData(data, end: true)
        } else if wroteFrames {
            writeData(ByteBuffer(), end: true)
        } else {
            // Nothing was written at all (cannot happen: every answer has a head): reset.
            lingerBytesLeft = nil
            bodyDeadline = nil
            reset(finish.requestUnfinished ? .noError : .internalError)
        }
        handler.streamWantsFlush()
    }

    /// The head is still held (no frame of the response encoded): it and the body held with it
    /// are dropped, for a 502 in their place.
    func retractResponseHead() -> Bool {
        guard !closed, heldHeaders != nil else { return false }
        heldHeaders = nil
        heldData = nil
        return true
    }

    func abort() {
        driver = nil
        bodyDeadline = nil
        dropQueue()
        reset(.cancel)
    }

    func flush() {
        guard !closed else { return }
        releaseHeld()
        handler.streamWantsFlush()
    }

    func resumeReading() {
        drain()
        handler.streamWantsFlush()
    }

    func switchToTunnel(head: HTTPResponse, upstream: UpstreamConnection, exchange: Exchange, upgrade: String) throws {
        throw ChannelError.operationUnsupported  // no HTTP/1.1 upgrade on an HTTP/2 stream
    }
}
