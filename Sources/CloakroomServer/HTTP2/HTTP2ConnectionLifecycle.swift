import NIOCore
import NIOHTTP2

/// When an HTTP/2 connection ends: the client timeouts that apply to the connection as a
/// whole, and the graceful shutdown. Pure: the handler feeds it events with the time they
/// happened and carries out the actions it returns; ``deadline`` is when it wants to be asked
/// again (``expired(now:)``).
///
/// - Before its first request, a connection gets `client.header_timeout` (or `idle_timeout`,
///   when shorter): the preface opened a request that has not come.
/// - With no stream open, `client.idle_timeout`.
/// - A header block started and not finished (HEADERS without END_HEADERS, or a frame only
///   partly received) gets `client.header_timeout`, whatever else is open: while it lasts, the
///   connection cannot decode anything else.
/// - On shutdown (`ChannelShouldQuiesceEvent`), GOAWAY `NO_ERROR` with the last stream accepted
///   (RFC 9113 §6.8): open streams finish, the connection closes when none is left, and the
///   client knows that later streams were not processed (it may send them again elsewhere).
///   Not the two-step form (GOAWAY with the highest ID and a PING first): past a first GOAWAY,
///   NIO's state machine refuses every new stream anyway, and treats the DATA that follows a
///   refused HEADERS as a connection error, which would cut the streams allowed to finish.
///
/// Every timeout ends with GOAWAY `NO_ERROR` naming the last stream accepted, then close.
struct HTTP2ConnectionLifecycle {
    enum Phase: Equatable {
        case awaitingFirstRequest
        case active
        case idle
        /// Shutting down: the GOAWAY went out, the open streams finish.
        case draining
        case closed
    }

    enum Action: Equatable {
        case none
        /// GOAWAY `NO_ERROR` with `lastStreamID`, then close when `close`.
        case goAway(lastStreamID: HTTP2StreamID, close: Bool)
        case close
    }

    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private(set) var phase = Phase.awaitingFirstRequest
    private(set) var openStreams = 0
    /// The highest stream the connection accepted.
    private(set) var lastStreamID = HTTP2StreamID.rootStream
    private var phaseDeadline: NIODeadline?
    private var headerBlockDeadline: NIODeadline?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount, now: NIODeadline) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        phaseDeadline = now + min(headerTimeout, idleTimeout)
    }

    /// The earliest time something is due.
    var deadline: NIODeadline? {
        switch (phaseDeadline, headerBlockDeadline) {
        case (let a?, let b?): return min(a, b)
        case (let a, let b): return a ?? b
        }
    }

    mutating func streamOpened(_ id: HTTP2StreamID) {
        openStreams += 1
        lastStreamID = max(lastStreamID, id)
        switch phase {
        case .awaitingFirstRequest, .idle:
            phase = .active
            phaseDeadline = nil
        case .active, .draining, .closed:
            break
        }
    }

    mutating func streamClosed(now: NIODeadline) -> Action {
        openStreams -= 1
        guard openStreams == 0 else { return .none }
        switch phase {
        case .active:
            phase = .idle
            phaseDeadline = now + idleTimeout
            return .none
        case .draining:
            phase = .closed
            return .close
        case .awaitingFirstRequest, .idle, .closed:
            return .none
        }
    }

    /// Whether a header block (or any frame other than DATA) is partly received after a read.
    mutating func headerBlock(pending: Bool, now: NIODeadline) {
        if !pending {
            headerBlockDeadline = nil
        } else if headerBlockDeadline == nil {
            headerBlockDeadline = now + headerTimeout
        }
    }

    /// The server is shutting down.
    mutating func quiesce() -> Action {
        switch phase {
        case .draining, .closed:
            return .none
        case .awaitingFirstRequest, .idle, .active:
            phaseDeadline = nil
            if openStreams == 0 {
                phase = .closed
                return .goAway(lastStreamID: lastStreamID, close: true)
            }
            phase = .draining
            return .goAway(lastStreamID: lastStreamID, close: false)
        }
    }

    /// The connection closed.
    mutating func closed() {
        phase = .closed
        phaseDeadline = nil
        headerBlockDeadline = nil
    }

    /// What is due at `now`.
    mutating func expired(now: NIODeadline) -> Action {
        guard phase != .closed else { return .none }
        let headerBlockExpired = headerBlockDeadline.map { $0 <= now } ?? false
        let phaseExpired = phaseDeadline.map { $0 <= now } ?? false
        guard headerBlockExpired || phaseExpired else { return .none }
        phase = .closed
        phaseDeadline = nil
        headerBlockDeadline = nil
        return .goAway(lastStreamID: lastStreamID, close: true)
    }
}
