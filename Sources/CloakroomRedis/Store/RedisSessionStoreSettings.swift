import NIOSSL

/// What `session.store.redis` configures, as the store takes it. The server maps its
/// configuration onto this; the store does not depend on the configuration target.
public struct RedisSessionStoreSettings: Sendable {
    /// Server, login, database, TLS and timeouts.
    public var client: RedisClientConfiguration
    /// Prepended to every key and to the pub/sub channel. Instances sharing a prefix share
    /// sessions; other data in the same database is never touched.
    public var keyPrefix: String
    /// Connections for commands (the pub/sub subscriber has one more of its own).
    public var poolSize: Int

    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]` or `rediss://...`.
    ///   - tls: used for `rediss://`; by default the system's trust roots and full verification.
    /// - Throws: ``RedisURLError`` for a malformed URL.
    public init(
        url: String, keyPrefix: String = "cloakroom:", poolSize: Int = 8, connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(1), tls: TLSConfiguration = .makeClientConfiguration(),
        protocolVersion: RedisClientConfiguration.ProtocolVersion = .resp2
    ) throws {
        precondition(poolSize > 0, "poolSize must be at least 1")
        self.client = RedisClientConfiguration(
            url: try RedisURL(parsing: url), tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
            protocolVersion: protocolVersion
        )
        self.keyPrefix = keyPrefix
        self.poolSize = poolSize
    }
}
