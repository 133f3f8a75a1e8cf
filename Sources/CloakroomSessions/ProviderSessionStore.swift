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
