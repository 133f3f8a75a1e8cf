import Metrics

/// API key metrics, through swift-metrics like ``SessionMetrics``:
///
/// - `cloakroom_api_keys_created_total`
/// - `cloakroom_api_keys_ended_total{reason}`: `admin` (revoked one by one or with the user's
///   sessions), `absolute` (found expired by a lookup, a listing or the sweep).
///
/// Stores count what they create and end themselves (through ``APIKeyEvents``), so every
/// caller (admin API, CLI through it, tests) is counted once, by the instance that did it.
public enum APIKeyMetrics {
    private static let created = Counter(label: "cloakroom_api_keys_created_total")
    /// The reasons keys end for today; made up front so a scrape shows them at 0.
    private static let ended: [SessionEndReason: Counter] = Dictionary(
        uniqueKeysWithValues: [SessionEndReason.admin, .absolute].map { ($0, endedCounter($0)) })

    private static func endedCounter(_ reason: SessionEndReason) -> Counter {
        Counter(label: "cloakroom_api_keys_ended_total", dimensions: [("reason", reason.rawValue)])
    }

    /// Makes the metrics now (see ``SessionMetrics/register()``).
    static func register() { _ = (created, ended) }

    static func keysCreated(_ count: Int) {
        guard count > 0 else { return }
        created.increment(by: count)
    }

    static func keysEnded(_ count: Int, reason: SessionEndReason) {
        guard count > 0 else { return }
        // Another caller's reason (none ends keys today) still counts, under its own label.
        (ended[reason] ?? endedCounter(reason)).increment(by: count)
    }
}

/// What a store did to API keys in one operation, reported after its locks are released:
/// metrics always, audit events (`"kind":"api_key"`) when the audit log listens. A revoke's
/// reason is the caller's (``SessionRequestContext/endReason``, `admin` outside any context);
/// an expiry's is `absolute`. Never the key or its hash: events carry the handle and the user.
package struct APIKeyEvents: Sendable {
    package var created: [APIKey] = []
    package var revoked: [APIKey] = []
    package var expired: [APIKey] = []

    package init(created: [APIKey] = [], revoked: [APIKey] = [], expired: [APIKey] = []) {
        self.created = created
        self.revoked = revoked
        self.expired = expired
    }

    package var isEmpty: Bool { created.isEmpty && revoked.isEmpty && expired.isEmpty }

    package func report(to audit: SessionAuditObservers) {
        guard !isEmpty else { return }
        reportMetrics()
        if audit.isActive { audit.report(auditEvents) }
    }

    /// Counts what happened (``APIKeyMetrics``).
    package func reportMetrics() {
        APIKeyMetrics.keysCreated(created.count)
        APIKeyMetrics.keysEnded(revoked.count, reason: SessionRequestContext.current?.endReason ?? .admin)
        APIKeyMetrics.keysEnded(expired.count, reason: .absolute)
    }

    /// One audit event per key, `"kind":"api_key"`.
    package var auditEvents: [SessionAuditEvent] {
        func event(_ kind: SessionAuditEvent.Kind, _ key: APIKey) -> SessionAuditEvent {
            SessionAuditEvent(kind: kind, handle: key.handle, subject: key.subject, client: "", credential: .apiKey)
        }
        return created.map { event(.created, $0) } + revoked.map { event(.revoked, $0) } + expired.map { event(.ended(.absolute), $0) }
    }
}
