import NIOCore
import NIOHTTP2

// Writing frames, inbound flow control, GOAWAY and close.
extension HTTP2ConnectionHandler {
    func write(_ frame: HTTP2Frame) {
        guard let context else { return }
        writing = true
        context.write(wrapOutboundOut(frame), promise: nil)
        writing = false
        needsFlush = true
    }

    /// A stream wrote or owes something: flushed at the read's end, or now outside a read.
    func streamWantsFlush() {
        if !inReadBatch { flushNow() }
    }

    func flushNow() {
        writeWindowUpdates()
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    func owe(_ increment: Int, on stream: HTTP2ServerStream) {
        if stream.windowIncrementDue == 0 { windowUpdatesDue.append(stream) }
        stream.windowIncrementDue += increment
    }

    /// `count` body bytes wait in a stream.
    func connectionHold(_ count: Int) {
        connectionWindow.hold(count)
    }

    /// `count` held body bytes were taken (or dropped) from `stream`, which may owe its own
    /// increment now.
    func connectionTook(_ count: Int, from stream: HTTP2ServerStream) {
        if let increment = connectionWindow.took(count) { connectionIncrementDue += increment }
        if stream.windowIncrementDue > 0 && !windowUpdatesDue.contains(where: { $0 === stream }) { windowUpdatesDue.append(stream) }
    }

    private func writeWindowUpdates() {
        if connectionIncrementDue > 0 {
            let increment = connectionIncrementDue
            connectionIncrementDue = 0
            write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: increment)))
        }
        guard !windowUpdatesDue.isEmpty else { return }
        let due = windowUpdatesDue
        windowUpdatesDue.removeAll(keepingCapacity: true)
        for stream in due where stream.windowIncrementDue > 0 {
            let increment = stream.windowIncrementDue
            stream.windowIncrementDue = 0
            if streams[stream.id] === stream && !stream.remoteEnded {
                write(HTTP2Frame(streamID: stream.id, payload: .windowUpdate(windowSizeIncrement: increment)))
            }
        }
    }

    /// `id`'s response went out whole before its request: reset it with NO_ERROR (or `code`),
    /// after the frames NIO is writing now (a reset written before them would drop DATA still
    /// in NIO's flow-control buffer).
    func resetAfterEnd(_ id: HTTP2StreamID, code: HTTP2ErrorCode = .noError, evenIfClosed: Bool = false) {
        resetsDue.append((id, code, evenIfClosed))
        guard resetsDue.count == 1 else { return }
        eventLoop.assumeIsolated().execute { [self] in
            let due = resetsDue
            resetsDue = []
            for (id, code, evenIfClosed) in due where evenIfClosed || streams[id] != nil {
                write(HTTP2Frame(streamID: id, payload: .rstStream(code)))
            }
            flushNow()
        }
    }

    func perform(_ action: HTTP2ConnectionLifecycle.Action) {
        switch action {
        case .none:
            break
        case .goAway(let lastStreamID, let close):
            goAway(lastStreamID: lastStreamID, code: .noError, close: close)
        case .close:
            closeConnection()
        }
        armTimer()
    }

    func goAway(lastStreamID: HTTP2StreamID, code: NIOHTTP2.HTTP2ErrorCode, close: Bool) {
        if close {
            // Nothing may follow the last GOAWAY of a connection without streams (NIO refuses it).
            connectionIncrementDue = 0
            windowUpdatesDue.removeAll()
        } else {
            writeWindowUpdates()
        }
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: code, opaqueData: nil))
        ownGoAway = true
        write(goAway)
        ownGoAway = false
        flushNow()
        if close { closeConnection() }
    }

    /// Closes after what was written (a GOAWAY, the last response) is flushed.
    func closeConnection() {
        lifecycle.closed()
        guard let context else { return }
        context.flush()
        context.close(promise: nil)
    }
}
