import Synchronization

/// One session a store created or ended, as the audit log reports it: what the session was
/// (handle, user, client address), never its ID or key.
public struct SessionAuditEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case created
        /// Ended because a caller asked the store to (a revoke): the reason is the caller's,
        /// from ``SessionRequestContext/endReason``.
        case revoked
        /// Ended by the store on its own: `idle`, `absolute`, `evicted` (memory store's
        /// `max_sessions`) or `limit` (`session.max_per_user`, at a login).
        case ended(SessionEndReason)
    }

    /// What began or ended: a session, or an API key (the audit line's `"kind"`).
    public enum Credential: String, Sendable, Equatable {
        case session
        case apiKey = "api_key"
    }

    public var kind: Kind
    public var credential: Credential
    public var handle: String
    public var subject: String
    /// The session's own client address (where it was created), not the current request's.
    public var client: String

    public init(kind: Kind, handle: String, subject: String, client: String, credential: Credential = .session) {
        self.kind = kind
        self.credential = credential
        self.handle = handle
        self.subject = subject
        self.client = client
    }

    /// Why an ended session ended, given the context of the call that ended it: the store's
    /// own reason, else the caller's; `nil` for a creation, or for a revoke made outside any
    /// context that names a reason.
    public func reason(in context: SessionRequestContext?) -> SessionEndReason? {
        switch kind {
        case .created: return nil
        case .revoked: return context?.endReason
        case .ended(let reason): return reason
        }
    }

    /// Whether a request caused this event, so the line carries its request ID: creations and
    /// revokes always; of the store's own endings, `limit` and `evicted`, which only a creation
    /// (a login, an admin `POST /sessions`) brings about, in that request's store call. Expiry
    /// is time's doing, whichever request noticed it.
    public var isCausedByRequest: Bool {
        switch kind {
        case .created, .revoked, .ended(.limit), .ended(.evicted): return true
        case .ended: return false
        }
    }
}

/// A store that reports every session it creates and ends, for the audit log.
///
/// Each store reports what this process did or saw: a session created here, a revoke made here,
/// an expiry a lookup or the sweep here found, an eviction or a `max_per_user` ending here. A
/// revoke made by another instance sharing a Redis is that instance's to report.
public protocol SessionAuditSource: SessionStore {
    /// Registers `observer`, called with every batch of events, synchronously in the task (or
    /// thread) of the store operation that produced them, after the store's locks are released
    /// and after anything that must be durable is committed. Until an observer is registered
    /// the store does not even build events. Observers are never removed.
    func observeAudit(_ observer: @escaping @Sendable ([SessionAuditEvent]) -> Void)
}

/// The audit observers of one store, and whether there are any (read on every ending, so
/// events are built only when someone listens).
public final class SessionAuditObservers: Sendable {
    private let observers = Mutex<[@Sendable ([SessionAuditEvent]) -> Void]>([])
    private let active = Atomic<Bool>(false)

    public init() {}

    /// Whether an observer is registered.
    public var isActive: Bool { active.load(ordering: .relaxed) }

    public func add(_ observer: @escaping @Sendable ([SessionAuditEvent]) -> Void) {
        observers.withLock { $0.append(observer) }
        active.store(true, ordering: .releasing)
    }

    /// Calls every observer with `events`, outside the lock; nothing when `events` is empty.
    public func report(_ events: [SessionAuditEvent]) {
        guard !events.isEmpty else { return }
        for observer in observers.withLock({ $0 }) { observer(events) }
    }
}
