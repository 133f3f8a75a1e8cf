import Synchronization
import struct Foundation.Date

/// Where sessions live. Every store (memory, file, Redis) implements exactly these semantics,
/// checked by one conformance suite.
///
/// Stores never see a raw session ID: they are keyed by ``SessionKey``, a hash of it, so a leaked
/// store cannot be replayed as cookies. Expiry is the store's job: a lookup after the idle or
/// absolute timeout has passed returns `nil` (and may delete the record).
///
/// - Important: Implementations are safe to call from any task or thread concurrently.
public protocol SessionStore: Sendable {
    /// Stores a new session for `key`, created now. `attributes` must hold a string `sub`
    /// (else ``SessionStoreError/missingSubject``).
    func create(key: SessionKey, attributes: JSONObject) async throws -> Session

    /// The live session for `key`, or `nil` when absent or expired. Records activity: the idle
    /// deadline slides, but the store writes `last_seen_at` at most once per touch interval.
    func lookup(key: SessionKey) async throws -> Session?

    /// Which of `keys` still have a live session, without recording activity (no touch, no
    /// sliding). The server asks this, in one batch, about the sessions behind open tunnels and
    /// long-lived streams, and closes those whose session ended by any cause: logout, revoke,
    /// another instance's revoke, idle or absolute expiry.
    func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey>

    /// Applies an RFC 7386 merge patch to the attributes. Returns the updated session, or `nil`
    /// when there is no live session for `key`. A patch that changes or removes `sub`, or that
    /// is not an object, throws ``SessionStoreError/invalidPatch(_:)`` and changes nothing.
    func update(key: SessionKey, patch: JSONValue) async throws -> Session?

    /// Ends one session. Returns whether a live session was ended (an expired one may be
    /// deleted too, but is not counted: it had already ended).
    func revoke(key: SessionKey) async throws -> Bool
    /// Ends the session with this admin handle. Returns whether a live one was ended; a string
    /// that is not a well-formed handle simply matches nothing.
    func revoke(handle: String) async throws -> Bool
    /// Ends every session whose `sub` is exactly `subject`. Returns how many live ones.
    func revokeAll(subject: String) async throws -> Int
    /// Ends every session. Returns how many live ones.
    func revokeAll() async throws -> Int

    /// Live sessions, all or those of one `sub`, oldest first.
    func sessions(subject: String?) async throws -> [Session]

    /// Deletes expired sessions now, and expired API keys in stores that keep them. Returns how
    /// many sessions. Servers call this periodically.
    func sweep() async throws -> Int

    /// How many live sessions the store holds (for the active-sessions gauge).
    func liveCount() async throws -> Int

    /// Replaces the idle and absolute timeouts and the touch interval, for a reload of
    /// `session.idle_timeout`, `absolute_timeout` or `touch_interval`. Every call from then on
    /// judges every session by them, sessions made before included: a session's deadlines are
    /// its creation and last activity plus the timeouts in force when it is looked at, never
    /// those it was created under. Stores keep no deadline of their own that this would leave
    /// behind, except where their documentation says (Redis: key TTLs and the expiry index).
    func updateTimeouts(_ timeouts: SessionTimeouts)

    /// Flushes anything written behind and releases resources (files, locks, connections).
    /// Called once at shutdown; the store is not used afterwards.
    func close() async throws
}

/// A store whose lookups complete without waiting (the memory store, and stores that keep an
/// in-memory index). The server uses this to answer on the event loop without a task hop.
///
/// - Important: `lookupNow` must never block: no I/O, no waiting on a contended lock for long.
public protocol ImmediateSessionLookup: SessionStore {
    /// Same semantics as ``SessionStore/lookup(key:)``; `cache`, when given, saves parsing the
    /// attributes again when they are those of the caller's previous lookup.
    func lookupNow(key: SessionKey, cache: ParsedAttributesCache?) throws -> Session?
    /// Same semantics as ``SessionStore/liveKeys(among:)``.
    func liveKeysNow(among keys: [SessionKey]) throws -> Set<SessionKey>
}

extension ImmediateSessionLookup {
    /// Same semantics as ``SessionStore/lookup(key:)``.
    public func lookupNow(key: SessionKey) throws -> Session? {
        try lookupNow(key: key, cache: nil)
    }
}

/// A revocation announced by another process sharing the store.
public enum SessionEnding: Sendable, Hashable {
    case session(SessionKey)
    case subject(String)
    case everyone
}

/// A store shared by several processes (Redis) that announces revocations made elsewhere, so
/// tunnels held here close at once instead of at the next ``SessionStore/liveKeys(among:)`` poll.
public protocol SessionEndingSource: SessionStore {
    /// Registers `observer`, called (on any thread) for every revocation the store hears of,
    /// including this process's own. Observers are never removed; the server registers one.
    func observeEndings(_ observer: @escaping @Sendable (SessionEnding) -> Void)
    /// Returns once endings announced from now on reach the observers (a store that hears of
    /// them through a subscription waits for it to be confirmed; others return at once).
    func endingsObserved() async
}

extension SessionEndingSource {
    public func endingsObserved() async {}
}

/// The observers of a store's revocations, for stores that announce them in process (memory,
/// file): a logout or revoke then ends the tunnels behind that session at once instead of at the
/// next liveness poll.
public final class SessionEndingObservers: Sendable {
    private let observers = Mutex<[@Sendable (SessionEnding) -> Void]>([])

    public init() {}

    public func add(_ observer: @escaping @Sendable (SessionEnding) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Calls every observer, outside the lock.
    public func announce(_ ending: SessionEnding) {
        for observer in observers.withLock({ $0 }) { observer(ending) }
    }
}

public enum SessionStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingSubject
    case invalidPatch(String)
    /// The backing store could not be reached or failed; the request must not be forwarded.
    case unavailable(String)

    public var description: String {
        switch self {
        case .missingSubject: return "session attributes must contain a string \"sub\" without control characters"
        case .invalidPatch(let why): return "invalid session patch: \(why)"
        case .unavailable(let why): return "session store unavailable: \(why)"
        }
    }
}

/// Idle and absolute timeouts and the write-limiting touch interval, shared by every store.
public struct SessionTimeouts: Sendable, Equatable {
    public var idle: Duration
    public var absolute: Duration
    public var touchInterval: Duration
    public init(idle: Duration, absolute: Duration, touchInterval: Duration) {
        self.idle = idle
        self.absolute = absolute
        self.touchInterval = touchInterval
    }

    /// When a session created at `createdAt` and last seen at `lastSeenAt` ends.
    public func expiry(createdAt: Date, lastSeenAt: Date) -> Date {
        min(lastSeenAt.addingTimeInterval(idle.timeInterval), createdAt.addingTimeInterval(absolute.timeInterval))
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`, for date arithmetic.
    public var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
