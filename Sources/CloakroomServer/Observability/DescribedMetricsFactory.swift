import CoreMetrics
import Prometheus

/// swift-prometheus's factory with a `# HELP` line for each of Cloakroom's metrics: swift-metrics
/// has no place for a description, so the factory looks the metric's name up here. A metric
/// without an entry is made as swift-prometheus would make it (no `# HELP`).
///
/// Every metric of one name gets the same text, as the registry requires (it stops the process
/// on two texts for one name): all of them are made through this one factory.
public struct DescribedMetricsFactory: MetricsFactory {
    private let base: PrometheusMetricsFactory
    private let help: [String: String]

    public init(registry: PrometheusCollectorRegistry, help: [String: String] = MetricHelp.texts) {
        self.base = PrometheusMetricsFactory(registry: registry)
        self.help = help
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor? {
        help[label].map { MetricNameDescriptor(metricName: label, unitName: "", helpText: $0) }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let descriptor = descriptor(label) else { return base.makeCounter(label: label, dimensions: dimensions) }
        return base.registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let descriptor = descriptor(label) else { return base.makeFloatingPointCounter(label: label, dimensions: dimensions) }
        return base.registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate, let descriptor = descriptor(label) else {
            return base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return base.registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let descriptor = descriptor(label) else { return base.makeMeter(label: label, dimensions: dimensions) }
        return base.registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let descriptor = descriptor(label) else { return base.makeTimer(label: label, dimensions: dimensions) }
        let buckets = base.durationHistogramBuckets[label] ?? base.defaultDurationHistogramBuckets
        return base.registry.makeDurationHistogram(descriptor: descriptor, labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}

/// The `# HELP` text of each metric, as the README's Metrics table describes it.
public enum MetricHelp {
    public static let texts: [String: String] = [
        "cloakroom_requests_total": "Exchanges by route, status and outcome, each counted once however it ended.",
        "cloakroom_upstream_response_seconds": "Time from the request sent upstream to the response head, by upstream.",
        "cloakroom_sessions_active": "Live sessions in the store, read at each scrape (NaN while the store cannot be read).",
        "cloakroom_logins_total": "Sessions created (backend login, built-in login, single sign-on, admin API).",
        "cloakroom_sessions_ended_total": "Sessions ended, by reason (the audit log's reasons).",
        "cloakroom_api_keys_created_total": "API keys created.",
        "cloakroom_api_keys_ended_total": "API keys ended, by reason.",
        "cloakroom_store_operation_seconds": "Session store latency, by operation.",
        "cloakroom_store_errors_total": "Session store failures, by operation.",
        "cloakroom_redis_failovers_total": "Times the Redis primary in use changed (Sentinel).",
        "cloakroom_redis_primary_unavailable_seconds": "Each period without a confirmed Redis primary (Sentinel).",
        "cloakroom_redis_primary_available": "1 while a confirmed Redis primary is in use, else 0 (Sentinel).",
        "cloakroom_redis_unacknowledged_writes_total":
            "Logins, logouts and revokes refused because WAIT confirmed fewer than min_replicas replicas.",
        "cloakroom_redis_revocation_feed_up": "1 while the subscription to the Redis revocation channel is confirmed, else 0.",
    ]
}
