import struct Foundation.Date

/// An API key as stores return it: a revocable credential for a machine client, issued by the
/// admin API, that signs a request in with its attributes exactly like a session does.
///
/// Invariant: `attributes["sub"]` is a non-empty string. The key itself (``APIKeySecret``) is
/// never stored; stores keep its ``SessionKey`` (SHA-256) only.
public struct APIKey: Sendable, Equatable {
    /// Non-secret identifier for listing and revoking, spelled like a session handle.
    public var handle: String
    /// What the key is for (`deploy`), as given at creation; `nil` when none was.
    public var name: String?
    public var attributes: JSONObject
    public var createdAt: Date
    /// The last request the key signed in, written at most once per touch interval; `nil`
    /// until the key is first used.
    public var lastUsedAt: Date?
    /// `createdAt + ttl`: a lookup from then on finds nothing.
    public var expiresAt: Date

    public init(handle: String, name: String?, attributes: JSONObject, createdAt: Date, lastUsedAt: Date?, expiresAt: Date) {
        self.handle = handle
        self.name = name
        self.attributes = attributes
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
    }

    /// The user the key acts for.
    public var subject: String {
        if case .string(let sub)? = attributes["sub"] { return sub }
        return ""
    }

    /// The key as the request path sees a signed-in client: its handle (the assertion's `sid`),
    /// its attributes (identity headers, `allow`), its times.
    public var asSession: Session {
        Session(
            handle: handle, attributes: attributes, createdAt: createdAt, lastSeenAt: lastUsedAt ?? createdAt, expiresAt: expiresAt)
    }
}

/// The secret a client presents: `ck_` + 43 base64url characters (256 bits from the system
/// CSPRNG), shown once when the key is created. Stores see only its ``SessionKey``: the
/// SHA-256 of the key's text.
public enum APIKeySecret {
    public static let prefix = "ck_"
    static let byteCount = 32
    /// Characters after the prefix.
    public static let encodedLength = 43

    /// A fresh key: its text, for the one answer that shows it, and its store key.
    public static func random() -> (text: String, key: SessionKey) {
        let text = prefix + Base64URL.encode(randomBytes(count: byteCount))
        return (text, SessionKey(digestOf: Array(text.utf8)))
    }

    /// Whether `text` looks like an API key at all (the prefix): a bearer credential that does
    /// not is an identity provider's token.
    public static func hasPrefix(_ text: Substring) -> Bool {
        let utf8 = text.utf8
        guard utf8.count >= 3 else { return false }
        var index = utf8.startIndex
        for expected in [UInt8(ascii: "c"), UInt8(ascii: "k"), UInt8(ascii: "_")] {
            guard utf8[index] == expected else { return false }
            index = utf8.index(after: index)
        }
        return true
    }

    /// The store key for a presented key, or `nil` when `text` is not spelled like one (it then
    /// names no key, and no store is asked). Read byte by byte: this runs on every request a
    /// key signs in.
    public static func key(presented text: Substring) -> SessionKey? {
        guard text.utf8.count == 3 + encodedLength, hasPrefix(text) else { return nil }
        let found = text.utf8.withContiguousStorageIfAvailable { bytes -> SessionKey? in
            for byte in bytes[3...] where !isBase64URL(byte) { return nil }
            return SessionKey(digestOf: UnsafeRawBufferPointer(bytes))
        }
        if let found { return found }
        return key(presented: Substring(String(text)))  // bridged storage: copied once, then contiguous
    }

    public static func key(presented text: String) -> SessionKey? {
        key(presented: Substring(text))
    }

    @inline(__always)
    static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

/// Where API keys live: every session store keeps them too (memory, file, Redis), so "log this
/// user out everywhere" ends their keys with their sessions. Checked by one conformance suite
/// (`APIKeyStoreConformance`).
///
/// Keys are apart from sessions otherwise: they never count towards `max_per_user` or a memory
/// store's bound, never appear in ``SessionStore/sessions(subject:)`` or
/// ``SessionStore/liveCount()``, and ``SessionStore/revokeAll()`` and
/// ``SessionStore/revokeAll(subject:)`` leave them (the admin API calls ``revokeKeys(subject:)``
/// beside the latter). ``SessionStore/sweep()`` removes expired keys too. Stores report keys
/// created and ended to their audit observers (``SessionAuditEvent/Credential/apiKey``) and to
/// ``APIKeyMetrics``; a revoke's reason is the caller's context's, an expiry's `absolute`.
///
/// - Important: Implementations are safe to call from any task or thread concurrently.
public protocol APIKeyStore: Sendable {
    /// Stores a new key for `key` (``APIKeySecret``), created now, expiring after `ttl`.
    /// `attributes` must hold a string `sub` (else ``SessionStoreError/missingSubject``).
    func createKey(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) async throws -> APIKey

    /// The live key for `key`, or `nil` when absent, revoked or expired. Records use:
    /// `last_used_at` is written at most once per touch interval.
    func lookupKey(key: SessionKey) async throws -> APIKey?

    /// Live keys, all or those of one `sub`, oldest first.
    func apiKeys(subject: String?) async throws -> [APIKey]

    /// Ends the key with this handle. Returns whether a live one was ended (an expired one is
    /// removed but not counted); a string that is not a well-formed handle simply matches nothing.
    func revokeKey(handle: String) async throws -> Bool

    /// Ends every key whose `sub` is exactly `subject`. Returns how many live ones.
    func revokeKeys(subject: String) async throws -> Int
}

/// A key store whose lookups complete without waiting (the memory store, and stores that keep
/// an in-memory index), so the request path needs no task hop.
///
/// - Important: `lookupKeyNow` must never block: no I/O, no waiting on a contended lock for long.
public protocol ImmediateAPIKeyLookup: APIKeyStore {
    /// Same semantics as ``APIKeyStore/lookupKey(key:)``.
    func lookupKeyNow(key: SessionKey) throws -> APIKey?
}

/// The longest and the default lifetime of an API key (`ttl` in `POST /api-keys`).
public enum APIKeyLifetime {
    public static let `default`: Duration = .seconds(90 * 86_400)
    public static let maximum: Duration = .seconds(365 * 86_400)
}
