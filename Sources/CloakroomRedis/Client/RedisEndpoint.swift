/// A host and port: one sentinel, or a Redis server a sentinel names as the primary.
///
/// Carries no login and no database: with Sentinel those are the same for every server the
/// client may be sent to, so they live in ``RedisClientConfiguration/url`` and the endpoint
/// says only where to connect.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 address in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension RedisURL {
    /// Where the URL points.
    public var endpoint: RedisEndpoint { RedisEndpoint(host: host, port: port) }
}
