import Metrics
import Synchronization

/// Request-path metrics through swift-metrics:
/// - `cloakroom_requests_total{route,status,outcome}`: every exchange once, however it ended,
///   by route path (`none` before routing, `logout` for the logout endpoint), status code and
///   ``ExchangeOutcome``.
/// - `cloakroom_upstream_response_seconds{upstream}`: request sent → response head.
///
/// Counters are made once per (route, status) and cached, so recording takes one short,
/// rarely contended lock instead of a registry lookup, and none at all through a connection's
/// ``Memo``.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
        let outcome: ExchangeOutcome
    }

    private let counters = Mutex<[Key: Counter]>([:])
    private let upstreamTimers: [String: Timer]

    init(upstreams: [String]) {
        upstreamTimers = Dictionary(uniqueKeysWithValues: upstreams.map {
            ($0, Timer(label: "cloakroom_upstream_response_seconds", dimensions: [("upstream", $0)]))
        })
    }

    /// The metric objects one connection last recorded into, reused while the route, status
    /// and upstream repeat (nearly always, on a keep-alive connection): no lock, no hashing.
    /// Held by the connection, on its event loop; an entry counts only for the
    /// ``RequestMetrics`` that made it (a reload makes new ones).
    struct Memo {
        fileprivate var owner: ObjectIdentifier?
        fileprivate var route = ""
        fileprivate var status = 0
        fileprivate var outcome = ExchangeOutcome.complete
        fileprivate var counter: Counter?
        fileprivate var upstream = ""
        fileprivate var timer: Timer?
    }

    func answered(route: String, status: Int, outcome: ExchangeOutcome, memo: inout Memo) {
        if memo.owner == ObjectIdentifier(self), let counter = memo.counter, memo.status == status, memo.outcome == outcome, memo.route == route {
            return counter.increment()
        }
        let counter = counter(route: route, status: status, outcome: outcome)
        if memo.owner != ObjectIdentifier(self) { memo = Memo(owner: ObjectIdentifier(self)) }
        (memo.route, memo.status, memo.outcome, memo.counter) = (route, status, outcome, counter)
        counter.increment()
    }

    func upstreamResponded(upstream: String, nanoseconds: Int64, memo: inout Memo) {
        if memo.owner == ObjectIdentifier(self), let timer = memo.timer, memo.upstream == upstream {
            return timer.recordNanoseconds(nanoseconds)
        }
        guard let timer = upstreamTimers[upstream] else { return }
        if memo.owner != ObjectIdentifier(self) { memo = Memo(owner: ObjectIdentifier(self)) }
        (memo.upstream, memo.timer) = (upstream, timer)
        timer.recordNanoseconds(nanoseconds)
    }

    private func counter(route: String, status: Int, outcome: ExchangeOutcome) -> Counter {
        let key = Key(route: route, status: status, outcome: outcome)
        return counters.withLock { counters in
            if let existing = counters[key] { return existing }
            let made = Counter(
                label: "cloakroom_requests_total",
                dimensions: [("route", route), ("status", String(status)), ("outcome", outcome.rawValue)])
            counters[key] = made
            return made
        }
    }
}
