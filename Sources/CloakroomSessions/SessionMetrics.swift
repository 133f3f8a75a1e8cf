import Metrics

/// Why a session ended. Callers report the reasons they cause (logout, admin, backend,
/// login, self, ...); stores report the ones only they see (idle, absolute, evicted, limit).
public enum SessionEndReason: String, Sendable, CaseIterable {
    /// The logout endpoint or `Session-Logout: current`.
    case logout
    /// The admin API or CLI.
    case admin
    /// `Session-Logout: all` from a backend.
    case backend
    /// A session presented at login, replaced by the new one.
    case login
    /// No request within `idle_timeout`.
    case idle
    /// `absolute_timeout` after login.
    case absolute
    /// Pushed out by `max_sessions` (memory store).
    case evicted
    /// A stored record that could not be read, deleted by the lookup that found it
    /// (``DamagedSessionRecord``).
    case damaged
    /// Ended by the identity provider (OpenID Connect back-channel logout).
    case idp
    /// The identity provider refused to refresh the session's tokens.
    case refreshFailed = "refresh_failed"
    /// Pushed out by a login of the same user beyond `session.max_per_user` (the least
    /// recently used of that user's sessions).
    case limit
    /// Ended by its own user on the self-service page (`session.self_service`).
    case selfService = "self"
}

/// The store operations whose latency and failures are measured.
public enum SessionStoreOperation: String, Sendable, CaseIterable {
    case create, lookup, update, revoke, list, sweep

    /// The position in `allCases`.
    var index: Int {
        switch self {
        case .create: 0
        case .lookup: 1
        case .update: 2
        case .revoke: 3
        case .list: 4
        case .sweep: 5
        }
    }
}

/// Session and store metrics, through swift-metrics (a no-op until a backend is bootstrapped).
/// Metric objects are made once, on first use, so recording costs no registry lookup.
///
/// - `cloakroom_logins_total`
/// - `cloakroom_sessions_ended_total{reason}`
/// - `cloakroom_store_operation_seconds{operation}` (timer)
/// - `cloakroom_store_errors_total{operation}`
public enum SessionMetrics {
    private static let ended: [SessionEndReason: Counter] = Dictionary(
        uniqueKeysWithValues: SessionEndReason.allCases.map {
            ($0, Counter(label: "cloakroom_sessions_ended_total", dimensions: [("reason", $0.rawValue)]))
        })
    /// By ``SessionStoreOperation/index``: a lookup is timed on every proxied request, and
    /// an array index costs no hashing.
    private static let timers: [Timer] = SessionStoreOperation.allCases.map {
        Timer(label: "cloakroom_store_operation_seconds", dimensions: [("operation", $0.rawValue)])
    }
    private static let errors: [Counter] = SessionStoreOperation.allCases.map {
        Counter(label: "cloakroom_store_errors_total", dimensions: [("operation", $0.rawValue)])
    }

    private static let logins = Counter(label: "cloakroom_logins_total")

    /// Makes every metric of sessions, stores and API keys now, so that a scrape shows each
    /// at 0 before its first event: a series that appears only with its first store error
    /// hides that error from `rate()` and `increase()`. Call once the backend is bootstrapped.
    public static func register() {
        _ = (ended, timers, errors, logins)
        APIKeyMetrics.register()
    }

    /// A session was created (backend login, built-in login or the admin API).
    public static func loggedIn() { logins.increment() }

    public static func sessionsEnded(_ count: Int, reason: SessionEndReason) {
        guard count > 0 else { return }
        ended[reason]?.increment(by: count)
    }

    /// Times `body` and counts it as an error when it throws.
    public static func measure<T>(_ operation: SessionStoreOperation, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        do {
            let value = try body()
            timers[operation.index].recordInterval(since: start)
            return value
        } catch {
            errors[operation.index].increment()
            throw error
        }
    }

    /// Records an operation that started at `start` and has just finished, for callers that
    /// complete through callbacks rather than a closure ``measure(_:_:)`` can wrap.
    public static func record(_ operation: SessionStoreOperation, since start: ContinuousClock.Instant, failed: Bool) {
        if failed {
            errors[operation.index].increment()
        } else {
            timers[operation.index].recordInterval(since: start)
        }
    }

    /// Async form of ``measure(_:_:)``.
    public static func measure<T>(_ operation: SessionStoreOperation, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        do {
            let value = try await body()
            timers[operation.index].recordInterval(since: start)
            return value
        } catch {
            errors[operation.index].increment()
            throw error
        }
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
