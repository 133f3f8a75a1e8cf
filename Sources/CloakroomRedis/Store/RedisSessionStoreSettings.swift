import NIOSSL

/// What `session.store.redis` configures, as the store takes it. The server maps its
/// configuration onto this; the store does not depend on the configuration target.
public struct RedisSessionStoreSettings: Sendable {
    /// Server, login, database, TLS and timeouts. With ``sentinel``, only the login, database,
    /// TLS and timeouts are used: the server is whichever the sentinels name as the primary.
    public var client: RedisClientConfiguration
    /// Where the sentinels are, when the primary is found through Redis Sentinel.
    public var sentinel: RedisSentinelConfiguration?
    /// Prepended to every key and to the pub/sub channel. Instances sharing a prefix share
    /// sessions; other data in the same database is never touched.
    public var keyPrefix: String
    /// Connections for commands (the pub/sub subscriber has one more of its own).
    public var poolSize: Int
    /// Replicas that must confirm (`WAIT`) a login, logout or revocation before it is
    /// acknowledged; 0 acknowledges once the primary has it.
    public var minReplicas: Int

    /// One server, by URL.
    ///
    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]` or `rediss://...`.
    ///   - tls: used for `rediss://`; by default the system's trust roots and full verification.
    /// - Throws: ``RedisURLError`` for a malformed URL.
    public init(
        url: String, keyPrefix: String = "cloakroom:", poolSize: Int = 8, connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(1), tls: TLSConfiguration = .makeClientConfiguration(),
        protocolVersion: RedisClientConfiguration.ProtocolVersion = .resp2, minReplicas: Int = 0
    ) throws {
        precondition(poolSize > 0, "poolSize must be at least 1")
        precondition(minReplicas >= 0, "minReplicas must not be negative")
        self.client = RedisClientConfiguration(
            url: try RedisURL(parsing: url), tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
            protocolVersion: protocolVersion
        )
        self.keyPrefix = keyPrefix
        self.poolSize = poolSize
        self.minReplicas = minReplicas
    }

    /// The primary of a master that Redis Sentinel watches.
    ///
    /// - Parameters:
    ///   - user, password, database: the data connections' login (`AUTH`) and database (`SELECT`).
    ///   - usesTLS: TLS to the sentinels and to the data servers, verified with `tls`.
    public init(
        sentinel: RedisSentinelConfiguration, user: String? = nil, password: String? = nil, database: Int = 0,
        usesTLS: Bool = false, keyPrefix: String = "cloakroom:", poolSize: Int = 8, connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(1), tls: TLSConfiguration = .makeClientConfiguration(),
        protocolVersion: RedisClientConfiguration.ProtocolVersion = .resp2, minReplicas: Int = 0
    ) {
        precondition(poolSize > 0, "poolSize must be at least 1")
        precondition(minReplicas >= 0, "minReplicas must not be negative")
        // The host is never connected to; it names the master in descriptions.
        let login = RedisURL(
            host: sentinel.masterName, port: 0, database: database, user: user, password: password, usesTLS: usesTLS)
        self.client = RedisClientConfiguration(
            url: login, tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout, protocolVersion: protocolVersion)
        self.sentinel = sentinel
        self.keyPrefix = keyPrefix
        self.poolSize = poolSize
        self.minReplicas = minReplicas
    }
}
