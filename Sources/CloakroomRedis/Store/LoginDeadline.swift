import NIOCore
import Synchronization

/// The Redis-clock moment after which a login's create script does nothing.
///
/// A create whose reply does not come within `command_timeout` is answered 503, but Redis may
/// still run it later: a server paused by a long fork or a stalled host reads the queued
/// command when it resumes (a reset connection does not take it back). That login would then
/// make a session no browser holds and, at `max_per_user`, end one the user does hold, with
/// nobody told (found by an audit). So the script gets a deadline on Redis's own clock
/// (`TIME`), the moment the proxy stops waiting, and refuses to run after it.
///
/// The deadline is worked out from the offset between Redis's clock and this process's
/// monotonic clock, measured with `TIME` and renewed at most every ``refresh``, in the
/// background, never holding a login up. The offset is taken at the earliest moment Redis can
/// have answered, so a slow measurement only makes the deadline later (lenient), never early.
/// Until a first measurement, logins carry no deadline (0), as before. A `LATE` refusal that
/// reaches the proxy in time cannot be a late execution (the proxy was still waiting): Redis's
/// clock moved; the store measures again and retries the login without a deadline.
final class LoginDeadline: Sendable {
    static let refresh = TimeAmount.seconds(60)
    /// The script's error reply when it runs after its deadline.
    static let lateReply = "LATE"

    private struct State {
        /// Redis's `TIME` in microseconds minus the monotonic clock's, when measured.
        var offset: Int64?
        var measuredAt: NIODeadline?
        var measuring = false
    }

    private let state = Mutex(State())
    private let timeout: Int64

    /// - Parameter commandTimeout: how long the proxy waits for a reply. The deadline falls a
    ///   tenth of it (at most 50 ms) before, so a script Redis starts just as the proxy gives
    ///   up, within the measurement's own slack, is refused too.
    init(commandTimeout: Duration) {
        let (seconds, attoseconds) = commandTimeout.components
        let wait = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        timeout = wait - min(wait / 10, 50_000)
    }

    /// The deadline for a script sent now, in Redis microseconds; 0 when the offset is unknown.
    func deadline(now: NIODeadline = .now()) -> Int64 {
        guard let offset = state.withLock({ $0.offset }) else { return 0 }
        return Self.microseconds(now) + offset + timeout
    }

    /// Whether a measurement is due (none yet, or the last one older than ``refresh``); if so,
    /// the caller is to make it (only one caller is told so at a time).
    func claimMeasurement(now: NIODeadline = .now()) -> Bool {
        state.withLock { state in
            guard !state.measuring else { return false }
            if let measuredAt = state.measuredAt, now - measuredAt < Self.refresh { return false }
            state.measuring = true
            return true
        }
    }

    /// Records a measurement: `TIME`'s answer `redisMicroseconds`, asked at `sent`; `nil` when
    /// it failed (the next login tries again after ``refresh``).
    func record(redisMicroseconds: Int64?, sent: NIODeadline) {
        state.withLock { state in
            state.measuring = false
            state.measuredAt = sent
            if let redisMicroseconds { state.offset = redisMicroseconds - Self.microseconds(sent) }
        }
    }

    /// Forgets the offset (Redis's clock moved): logins carry no deadline until measured again.
    func invalidate() {
        state.withLock { state in
            state.offset = nil
            state.measuredAt = nil
        }
    }

    static func microseconds(_ deadline: NIODeadline) -> Int64 {
        Int64(deadline.uptimeNanoseconds / 1000)
    }

    /// `TIME`'s reply, `[seconds, microseconds]` as bulk strings, in microseconds.
    static func microseconds(fromTime reply: RESPValue) -> Int64? {
        guard let parts = reply.elements, parts.count == 2, let seconds = parts[0].int64, let micros = parts[1].int64 else { return nil }
        return seconds * 1_000_000 + micros
    }
}
