import CloakroomJOSE
import CloakroomSessions
import Crypto
import Synchronization

import struct Foundation.Data
import struct Foundation.Date

/// What checking a bearer token found, as CloakroomOIDC reports it (the server maps it onto the
/// proxy's `BearerVerdict`). Reasons are for the log: they name the failed check, never the
/// token or a claim's value.
public enum BearerCheck: Sendable, Equatable {
    case valid(VerifiedBearer)
    case invalid(String)
    /// The provider's keys could not be had (discovery not done, JWKS fetch failing): 502.
    case providerUnavailable(String)
}

/// A bearer token the provider signed: the mapped claims, its `exp`, and a handle that stands
/// in for a session handle (the assertion's `sid`, log lines).
public struct VerifiedBearer: Sendable, Equatable {
    public var attributes: JSONObject
    public var expiresAt: Date
    public var handle: String

    public init(attributes: JSONObject, expiresAt: Date, handle: String) {
        self.attributes = attributes
        self.expiresAt = expiresAt
        self.handle = handle
    }
}

/// Verdicts on bearer tokens, keyed by the SHA-256 of the token (the token itself is never
/// kept), so a signature is checked once per token and every later request is a dictionary
/// look-up. Valid verdicts last until the token's `exp` (then the answer is "expired" without
/// checking again); refusals for ``refusalLifetime`` only, because some heal by themselves (a
/// `kid` the key set learns at its next refetch, an `iat` or `nbf` a little ahead); an
/// unreachable provider is never cached. At most ``capacity`` entries: when full, expired
/// entries go first, then the oldest tenth.
///
/// Thread-safe (one lock, held for a look-up or an insertion); the clock is the caller's `now`.
public final class BearerCache: Sendable {
    public static let defaultCapacity = 10_000
    /// How long a refusal is answered from the cache (the key set's refetch interval).
    public static let refusalLifetime: Double = 60

    struct Entry {
        var check: BearerCheck
        var until: Date
        var sequence: UInt64
    }

    struct State {
        var entries: [SHA256Digest: Entry] = [:]
        var sequence: UInt64 = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = BearerCache.defaultCapacity) {
        precondition(capacity > 0, "a bearer cache holds at least one verdict")
        self.capacity = capacity
    }

    /// The SHA-256 of `token`: the cache's key, and the source of the token's handle.
    public static func key(_ token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }

    /// The first 16 base64url characters of the token's SHA-256: enough to tell tokens apart in
    /// a log, useless to present.
    public static func handle(_ key: SHA256Digest) -> String {
        let base64 = Array(key).prefix(12)  // 12 bytes → exactly 16 characters, no padding
        return String(
            Data(base64).base64EncodedString().map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// The remembered verdict, or `nil` when the token must be verified. A valid verdict past
    /// the token's `exp` answers `invalid("expired")`.
    public func lookup(_ key: SHA256Digest, now: Date) -> BearerCheck? {
        state.withLock { state -> BearerCheck? in
            guard let entry = state.entries[key] else { return nil }
            if now < entry.until { return entry.check }
            if case .valid = entry.check { return .invalid(TokenRejection.expired.description) }
            state.entries[key] = nil
            return nil
        }
    }

    /// Remembers `check` for `key` (not an unreachable provider).
    public func store(_ check: BearerCheck, for key: SHA256Digest, now: Date) {
        let until: Date
        switch check {
        case .valid(let bearer): until = bearer.expiresAt
        case .invalid: until = now.addingTimeInterval(Self.refusalLifetime)
        case .providerUnavailable: return
        }
        state.withLock { state in
            if state.entries[key] == nil, state.entries.count >= capacity { Self.evict(&state, capacity: capacity, now: now) }
            state.sequence &+= 1
            state.entries[key] = Entry(check: check, until: until, sequence: state.sequence)
        }
    }

    /// How many verdicts are held.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Expired entries, then, while still full, the oldest tenth (at least one): one sort per
    /// tenth of the capacity inserted, not one per insertion.
    private static func evict(_ state: inout State, capacity: Int, now: Date) {
        state.entries = state.entries.filter { now < $0.value.until }
        guard state.entries.count >= capacity else { return }
        let excess = state.entries.count - capacity + max(1, capacity / 10)
        let oldest = state.entries.sorted { $0.value.sequence < $1.value.sequence }.prefix(excess)
        for (key, _) in oldest { state.entries[key] = nil }
    }
}
