import Metrics

/// Failover metrics, through swift-metrics (Prometheus on `/metrics`). Made by a store that
/// follows Sentinel, so they appear only with `redis.sentinel`:
///
/// - `cloakroom_redis_failovers_total`: times the primary in use changed to another server.
/// - `cloakroom_redis_primary_unavailable_seconds` (histogram): each period without a usable
///   primary, from the moment the old one was dropped to the moment a new one (or the same,
///   back) was confirmed; recorded when the period ends. Its `_sum` is the total time.
/// - `cloakroom_redis_primary_available`: 1 while a confirmed primary is in use, else 0, so an
///   outage still under way shows too.
///
/// `cloakroom_redis_unacknowledged_writes_total` counts the logins, logouts and revocations
/// refused because `WAIT` confirmed fewer than `min_replicas` replicas (with or without Sentinel).
struct RedisFailoverMetrics: Sendable {
    let failovers = Counter(label: "cloakroom_redis_failovers_total")
    let unavailable = Timer(label: "cloakroom_redis_primary_unavailable_seconds")
    let available = Gauge(label: "cloakroom_redis_primary_available")

    func primaryInUse(_ inUse: Bool) { available.record(inUse ? 1 : 0) }
}

enum RedisWriteMetrics {
    static let unacknowledged = Counter(label: "cloakroom_redis_unacknowledged_writes_total")

    /// Makes the counter now, at 0, as every counter is before its first event (see
    /// `SessionMetrics.register()`; found by an audit: it appeared with the first refused write).
    static func register() { _ = unacknowledged }
}

/// `cloakroom_redis_revocation_feed_up`: 1 while the store's subscription to the revocation
/// channel is confirmed, 0 before it is and while it is lost. Revocations announced meanwhile
/// are not heard by this instance (its open WebSockets stay up until their next liveness
/// check), which is what the `CloakroomRevocationFeedDown` alert is for.
struct RevocationFeedMetrics: Sendable {
    let up = Gauge(label: "cloakroom_redis_revocation_feed_up")

    func subscribed(_ subscribed: Bool) { up.record(subscribed ? 1 : 0) }
}
