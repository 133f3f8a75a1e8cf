import CloakroomSessions
import Synchronization

/// A store whose `lookup(key:)` goes the way the server's requests go: not the protocol's async
/// lookup but the store's own fast path — ``ImmediateSessionLookup/lookupNow(key:cache:)`` for
/// the memory and file stores, the event-loop lookup for Redis — with one
/// ``ParsedAttributesCache`` kept across lookups, as a client connection keeps one. Everything
/// else goes to the store itself.
///
/// The conformance suite runs every check through it as well (``SessionStoreConformance``'s
/// `lookupPath`), so the code that serves requests is held to the same behaviour as the
/// protocol's lookup: a merge patch visible on the next lookup through the cache, expiry,
/// revocation, concurrent use.
public struct ProductionLookupStore: SessionStore {
    /// One lookup the production way; the closure owns its cache.
    public typealias Lookup = @Sendable (any SessionStore, SessionKey) async throws -> Session?

    public let base: any SessionStore
    private let lookupPath: Lookup

    public init(base: any SessionStore, lookup: @escaping Lookup) {
        self.base = base
        self.lookupPath = lookup
    }

    /// The memory and file stores' path, `lookupNow(key:cache:)`, with one cache (held under a
    /// lock: in the server a cache belongs to one event loop, here the checks' tasks take turns).
    public static func immediate() -> Lookup {
        let cache = Mutex(ParsedAttributesCache())
        return { store, key in
            guard let immediate = store as? any ImmediateSessionLookup else {
                preconditionFailure("\(type(of: store)) has no immediate lookup")
            }
            return try cache.withLock { try immediate.lookupNow(key: key, cache: $0) }
        }
    }

    public func lookup(key: SessionKey) async throws -> Session? { try await lookupPath(base, key) }

    public func create(key: SessionKey, attributes: JSONObject) async throws -> Session { try await base.create(key: key, attributes: attributes) }
    public func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> { try await base.liveKeys(among: keys) }
    public func update(key: SessionKey, patch: JSONValue) async throws -> Session? { try await base.update(key: key, patch: patch) }
    public func revoke(key: SessionKey) async throws -> Bool { try await base.revoke(key: key) }
    public func revoke(handle: String) async throws -> Bool { try await base.revoke(handle: handle) }
    public func revokeAll(subject: String) async throws -> Int { try await base.revokeAll(subject: subject) }
    public func revokeAll() async throws -> Int { try await base.revokeAll() }
    public func sessions(subject: String?) async throws -> [Session] { try await base.sessions(subject: subject) }
    public func sweep() async throws -> Int { try await base.sweep() }
    public func liveCount() async throws -> Int { try await base.liveCount() }
    public func updateTimeouts(_ timeouts: SessionTimeouts) { base.updateTimeouts(timeouts) }
    public func close() async throws { try await base.close() }
}
