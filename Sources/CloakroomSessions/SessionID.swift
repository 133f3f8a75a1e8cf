import Crypto

/// A raw session ID: 256 bits from the system CSPRNG. It only ever exists in the cookie and in
/// memory while a request is handled; stores see its ``key``.
public struct SessionID: Sendable, Hashable {
    /// Exactly ``SessionID/byteCount`` bytes.
    public let bytes: [UInt8]
    public static let byteCount = 32

    /// A fresh ID from the system's cryptographically secure generator.
    public static func random() -> SessionID {
        SessionID(unchecked: randomBytes(count: byteCount))
    }

    /// The store key: SHA-256 of the ID, computed once with the ID (every request that
    /// presents an ID looks it up by key, often more than once).
    public let key: SessionKey

    /// `nil` unless `bytes` has exactly ``byteCount`` bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.init(unchecked: bytes)
    }

    private init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
        self.key = SessionKey(digestOf: bytes)
    }
}

/// What stores key sessions by: the SHA-256 of a ``SessionID``. Knowing a key does not let
/// anyone build a cookie.
public struct SessionKey: Sendable, Hashable {
    // Four words instead of an array: no allocation, cheap hashing, 32 bytes in a dictionary.
    public let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public init(digestOf bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { SessionKey(digestOf: $0) }
    }

    /// The SHA-256 of `bytes`, without copying them.
    public init(digestOf bytes: UnsafeRawBufferPointer) {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        let digest = hasher.finalize()
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        digest.withUnsafeBytes { raw in
            words = (
                raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }
        (w0, w1, w2, w3) = words
    }

    /// Rebuilds a key from its 32-byte form (as persisted by durable stores).
    public init?(rawBytes: [UInt8]) {
        guard rawBytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        rawBytes.withUnsafeBytes { raw in
            words = (
                raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }
        (w0, w1, w2, w3) = words
    }

    /// The 32 bytes, for durable stores.
    public var rawBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
        }
        return out
    }
}
