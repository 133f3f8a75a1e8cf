import struct Foundation.Date

/// One user's server-side session, as stores return it.
///
/// Invariant: `attributes["sub"]` is a non-empty string; `expiresAt` is the earlier of
/// `lastSeenAt + idle timeout` and `createdAt + absolute timeout`.
public struct Session: Sendable, Equatable {
    /// Non-secret identifier for admin use (listing, revoking). Never usable as a cookie.
    public var handle: String
    public var attributes: JSONObject
    public var createdAt: Date
    public var lastSeenAt: Date
    public var expiresAt: Date
    /// Where the session came from (``SessionOrigin``): the client address and `User-Agent` of
    /// the request that created it. Creations and listings carry it; a lookup on the request
    /// path may leave it empty (the Redis store does not read it there).
    public var origin: SessionOrigin

    public init(
        handle: String, attributes: JSONObject, createdAt: Date, lastSeenAt: Date, expiresAt: Date, origin: SessionOrigin = .unknown
    ) {
        self.handle = handle
        self.attributes = attributes
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.origin = origin
    }

    /// The user this session belongs to.
    public var subject: String {
        if case .string(let sub)? = attributes["sub"] { return sub }
        return ""
    }
}

/// A source of wall-clock time. Stores take one so tests can move time instead of sleeping.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system's clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}
