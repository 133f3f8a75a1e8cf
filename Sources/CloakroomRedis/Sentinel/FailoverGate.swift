import Synchronization

/// `min_replicas` during a failover a sentinel runs while the old primary still takes writes
/// (`SENTINEL FAILOVER`, or a primary the sentinels judge down that is still up): a write `WAIT`
/// confirms on the replica that is *not* promoted is dropped when that replica resyncs from the
/// new primary (found by an audit: a planned failover lost acknowledged logins and revived
/// acknowledged logouts with `min_replicas: 1` of two replicas). So from the moment a sentinel
/// announces `+try-failover` for the master until `+switch-master` (or that sentinel's
/// `-failover-abort-…`), no write is acknowledged: each gets 503, as when `WAIT` falls short.
///
/// A sentinel selects and promotes the replica at least one timer tick (about 100 ms) after
/// announcing the failover, so a write acknowledged before the announcement reached the proxy
/// was confirmed before the promotion, where the replica with the most data is chosen.
///
/// - Important: Safe from any thread.
final class FailoverGate: Sendable {
    /// A failover whose end was never heard of (a lost subscription) stops holding writes back
    /// after this long.
    static let longest: Duration = .seconds(60)

    private struct State {
        /// Moves on at every announcement and every switch: a write sent before either is not
        /// acknowledged after it.
        var epoch = 0
        /// The sentinels (by index) running a failover of the master, since when.
        var underWay: [Int: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())

    /// Taken before a write is sent; ``allows(_:now:)`` checks it once `WAIT` answered.
    func ticket() -> Int { state.withLock { $0.epoch } }

    func started(by sentinel: Int, now: ContinuousClock.Instant) {
        state.withLock { state in
            state.epoch += 1
            state.underWay[sentinel] = now
        }
    }

    /// The sentinel gave its attempt up (another was elected, no replica was good enough).
    func aborted(by sentinel: Int) {
        _ = state.withLock { $0.underWay.removeValue(forKey: sentinel) }
    }

    /// A new primary is announced: the failover is over. Writes sent before a switch that
    /// changed the primary are not acknowledged after it (every sentinel announces the same
    /// switch, some of them late: only the first changes the primary).
    func switched(primaryChanged: Bool) {
        state.withLock { state in
            if primaryChanged { state.epoch += 1 }
            state.underWay.removeAll()
        }
    }

    /// Whether a write sent with `ticket` may be acknowledged: no failover announced or
    /// completed since, and none under way (for less than ``longest``).
    func allows(_ ticket: Int, now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            state.epoch == ticket && state.underWay.values.allSatisfy { now - $0 >= Self.longest }
        }
    }
}
