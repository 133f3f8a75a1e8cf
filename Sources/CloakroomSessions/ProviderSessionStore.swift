import Synchronization
import struct Foundation.Date

/// What a store keeps for sessions created through an identity provider (single sign-on),
/// beside what ``SessionStore`` does. Every store (memory, file, Redis) implements it.
///
/// - The **private part** (`secrets`): a JSON object only the proxy reads — the provider's
///   tokens. It is never in ``Session/attributes``, so it never reaches a backend header, the
///   admin API, a log line or the access log. Stores keep it with the record and drop it with it.
/// - **Links**: names of the provider sessions a session came from (`"sid:<iss> <sid>"`,
///   `"sub:<iss> <sub>"`), indexed so a back-channel logout ends exactly their sessions.
/// - A **replay guard**: ``firstUse(of:until:)`` remembers a token identifier (a logout token's
///   `jti`, a login's `state`) until a deadline, shared by every instance that shares the store.
/// - A **refresh lease** (``leaseRefresh(key:for:)``): one holder at a time refreshes a
///   session's tokens, among every instance that shares the store.
public protocol ProviderSessionStore: SessionStore {
    /// ``SessionStore/create(key:attributes:)`` with a private part and links.
    func create(key: SessionKey, attributes: JSONObject, secrets: JSONObject, links: [String]) async throws -> Session
    /// The private part of the live session under `key` (empty when it has none), or `nil` when
    /// there is no live session. Does not count as activity.
    func secrets(key: SessionKey) async throws -> JSONObject?
    /// Replaces the private part of the live session under `key`; `false` when there is none.
    func replaceSecrets(key: SessionKey, with secrets: JSONObject) async throws -> Bool
    /// Ends every session linked to `link`, announcing each ending like a revoke (open tunnels
    /// close). Returns how many live ones.
    func revokeAll(link: String) async throws -> Int
    /// `true` the first time `token` is presented before `until`, `false` for every later time
    /// until then. After `until` the store may forget it.
    func firstUse(of token: String, until: Date) async throws -> Bool
    /// Takes the lease on refreshing the provider's tokens of the session under `key` for
    /// `lifetime`, or `nil` while someone else holds it: so that instances sharing the store
    /// never send the provider two refresh grants for one session (a provider that rotates
    /// refresh tokens takes the second for a replay and revokes them all). The lease lapses on
    /// its own after `lifetime`, so a holder that dies never blocks the session for longer.
    func leaseRefresh(key: SessionKey, for lifetime: Duration) async throws -> RefreshLease?
    /// Gives `lease` back, if it is still its holder's: one that lapsed and was taken by
    /// someone else stays theirs.
    func releaseRefresh(_ lease: RefreshLease) async throws
}

/// A hold on refreshing one session's tokens (``ProviderSessionStore/leaseRefresh(key:for:)``).
public struct RefreshLease: Sendable, Hashable {
    public let key: SessionKey
    /// Names this holder (128 random bits in hex), so a release removes only its own lease.
    public let holder: String

    /// A lease on `key` for a new holder.
    public init(key: SessionKey) {
        self.key = key
        self.holder = randomBytes(count: 16).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }
}

/// A provider store that only one process ever uses (memory; file, whose database is locked to
/// one process): the proxy already runs one refresh at a time per session within a process,
/// so the refresh lease is always granted and its release has nothing to do.
public protocol SingleProcessProviderStore: ProviderSessionStore {}

extension SingleProcessProviderStore {
    public func leaseRefresh(key: SessionKey, for lifetime: Duration) async throws -> RefreshLease? {
        RefreshLease(key: key)
    }

    public func releaseRefresh(_ lease: RefreshLease) async throws {}
}

/// Token identifiers remembered until their deadline, in this process (memory and file stores;
/// the Redis store keeps them in Redis so every instance sees them).
public final class ReplayMemory: Sendable {
    private let seen = Mutex<[String: Date]>([:])
    private let clock: any WallClock
    /// Remembered identifiers above which a `firstUse` first forgets the expired ones.
    private let pruneAbove: Int

    public init(clock: any WallClock = SystemWallClock(), pruneAbove: Int = 1024) {
        self.clock = clock
        self.pruneAbove = pruneAbove
    }

    public func firstUse(of token: String, until: Date) -> Bool {
        let now = clock.now()
        return seen.withLock { seen in
            if let deadline = seen[token], deadline > now { return false }
            if seen.count >= pruneAbove { seen = seen.filter { $0.value > now } }
            seen[token] = until
            return true
        }
    }
}

/// A provider store whose private parts are in memory (memory and file stores): the request
/// path reads a session's access token without leaving the event loop.
///
/// - Important: `secretsNow` must never block: no I/O.
public protocol ImmediateSecretsLookup: ProviderSessionStore {
    /// Same semantics as ``ProviderSessionStore/secrets(key:)``.
    func secretsNow(key: SessionKey) throws -> JSONObject?
}
