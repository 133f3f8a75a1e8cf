import NIOCore
import NIOSSL

/// How the client reaches one Redis server: address, login, database, TLS, timeouts and limits.
public struct RedisClientConfiguration: Sendable {
    /// Which RESP version connections speak. Replies decode the same either way; RESP3 logs in
    /// with one `HELLO 3 AUTH` instead of `AUTH`.
    public enum ProtocolVersion: Int, Sendable {
        case resp2 = 2
        case resp3 = 3
    }

    public var url: RedisURL
    /// Used when ``RedisURL/usesTLS`` is set. By default: the system's trust roots, full
    /// certificate and host name verification.
    public var tls: TLSConfiguration
    /// Bounds the TCP connect. The TLS handshake and login that follow are bounded by the
    /// command timeout, like any command.
    public var connectTimeout: Duration
    /// How long any command may wait for its reply. A command past it fails, and so does every
    /// other command in flight on its connection, which is closed: replies are matched to
    /// commands by order, so a connection with a missing reply cannot be trusted.
    public var commandTimeout: Duration
    public var protocolVersion: ProtocolVersion
    public var limits: RESPLimits

    public init(
        url: RedisURL, tls: TLSConfiguration = .makeClientConfiguration(), connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(1), protocolVersion: ProtocolVersion = .resp2, limits: RESPLimits = .default
    ) {
        self.url = url
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.protocolVersion = protocolVersion
        self.limits = limits
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
