import NIOCore
import NIOHTTP2

// The connection's one timer, and what NIO and the wire guard report.
extension HTTP2ConnectionHandler {
    /// A stream's body deadline: the timer runs no later than it.
    func bodyDeadlineSet(_ deadline: NIODeadline) {
        if let check = bodyCheckAt, check <= deadline { return }
        bodyCheckAt = deadline
        armTimer()
    }

    /// One scheduled task for the connection: its lifecycle deadline and the streams' body
    /// deadlines, whichever comes first. A deadline moved later costs nothing: the task fires,
    /// finds nothing due and is scheduled again.
    func armTimer() {
        let deadline: NIODeadline
        switch (lifecycle.deadline, bodyCheckAt) {
        case (let a?, let b?): deadline = min(a, b)
        case (let a?, nil): deadline = a
        case (nil, let b?): deadline = b
        case (nil, nil): return
        }
        if let timerAt, timerAt <= deadline { return }
        timer?.cancel()
        timerAt = deadline
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerAt = nil
        guard context != nil else { return }
        let now = eventLoop.now
        if let check = bodyCheckAt, check <= now {
            bodyCheckAt = nil
            func next(_ deadline: NIODeadline) { if bodyCheckAt.map({ deadline < $0 }) ?? true { bodyCheckAt = deadline } }
            for stream in Array(streams.values) {
                if let deadline = stream.bodyDeadline {
                    if deadline <= now { stream.bodyTimedOut() } else { next(deadline) }
                }
                // A response the client took nothing of for `client.body_timeout` (a window
                // kept at zero): the stream is reset, and its upstream connection freed.
                if let deadline = stream.sendDeadline {
                    if deadline <= now {
                        stream.sendDeadline = nil
                        stream.sendTimedOut = true
                        stream.reset(.cancel)
                    } else {
                        next(deadline)
                    }
                }
            }
            flushNow()
        }
        perform(lifecycle.expired(now: now))
    }
}

extension HTTP2ConnectionHandler: NIOHTTP2FrameDelegate, HTTP2WireObserver {
    /// Every frame NIO writes, as it leaves its buffers.
    func wroteFrame(_ frame: HTTP2Frame) {
        switch frame.payload {
        case .data(let data):
            streams[frame.streamID]?.sent(bytes: data.data.readableBytes, endStream: data.endStream)
        case .headers(let headers) where headers.endStream:
            streams[frame.streamID]?.sent(bytes: 0, endStream: true)
        case .goAway:
            if !ownGoAway { nioWroteGoAway = true }
        default:
            break
        }
    }

    func wireRead(decoding: Bool) {
        nioDecoding = decoding
    }

    func headerBlock(pending: Bool) {
        guard pending != headerBlockPending else { return }
        headerBlockPending = pending
        lifecycle.headerBlock(pending: pending, now: now)
        armTimer()
    }
}
