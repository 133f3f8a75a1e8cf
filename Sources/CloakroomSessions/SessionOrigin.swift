/// Where a session came from: the client address and the `User-Agent` of the request that
/// created it, recorded once at creation and never changed (SPEC "Session governance").
///
/// Neither is secret, and neither identifies the session: they are shown to the session's
/// user (the self-service page), to operators (admin API, `cloakroom sessions list`) and in the
/// audit log. Invariant: `userAgent` is at most ``maxUserAgentBytes`` bytes of UTF-8, cut at a
/// character boundary; `client` is an IP address without a port, or empty when unknown.
public struct SessionOrigin: Sendable, Hashable {
    /// The longest `User-Agent` kept, in bytes.
    public static let maxUserAgentBytes = 256
    /// The longest client address kept, in bytes (an IPv6 address with a zone fits).
    static let maxClientBytes = 64

    /// Sessions created without a request (tests, stores written by an older version).
    public static let unknown = SessionOrigin(client: "", userAgent: "")

    public let client: String
    public let userAgent: String

    /// `userAgent` is cut to ``maxUserAgentBytes`` at a character boundary (`nil`: the request
    /// had none); `client` is cut the same way, as a bound on what a store keeps. Stores restore
    /// a kept origin through this too, so a damaged record cannot grow a page or a log line.
    public init(client: String, userAgent: String?) {
        self.client = Self.prefix(client, maxBytes: Self.maxClientBytes)
        self.userAgent = Self.prefix(userAgent ?? "", maxBytes: Self.maxUserAgentBytes)
    }

    /// The longest prefix of `text` that is whole characters (extended grapheme clusters) and
    /// at most `maxBytes` bytes of UTF-8.
    static func prefix(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var end = text.startIndex
        var bytes = 0
        for index in text.indices {
            let next = text.index(after: index)
            let size = text.utf8.distance(from: index, to: next)
            guard bytes + size <= maxBytes else { break }
            bytes += size
            end = next
        }
        return String(text[..<end])
    }
}
