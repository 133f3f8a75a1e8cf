import Metrics
import Synchronization

/// Request-path metrics through swift-metrics:
/// - `cloakroom_requests_total{route,status}`: every answered request, by route path
///   (`none` before routing, `logout` for the logout endpoint) and status code.
/// - `cloakroom_upstream_response_seconds{upstream}`: request sent → response head.
///
/// Counters are made once per (route, status) and cached, so recording takes one short,
/// rarely contended lock instead of a registry lookup.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private let counters = Mutex<[Key: Counter]>([:])
    private let upstreamTimers: [String: Timer]

    init(upstreams: [String]) {
        upstreamTimers = Dictionary(uniqueKeysWithValues: upstreams.map {
            ($0, Timer(label: "cloakroom_upstream_response_seconds", dimensions: [("upstream", $0)]))
        })
    }

    func answered(route: String, status: Int) {
        let key = Key(route: route, status: status)
        let counter = counters.withLock { counters in
            if let existing = counters[key] { return existing }
            let made = Counter(label: "cloakroom_requests_total", dimensions: [("route", route), ("status", String(status))])
            counters[key] = made
            return made
        }
        counter.increment()
    }

    func upstreamResponded(upstream: String, nanoseconds: Int64) {
        upstreamTimers[upstream]?.recordNanoseconds(nanoseconds)
    }
}
