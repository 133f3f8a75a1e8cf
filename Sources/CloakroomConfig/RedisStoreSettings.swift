/// `session.store.redis`: one server by `url`, or the primary of a master that Redis Sentinel
/// watches (`sentinel`, instead of `url`).
public struct RedisStoreSettings: Sendable, Equatable {
    /// The server, with its login and database. Unused with ``sentinel`` (the decoder refuses
    /// both together).
    public var url: String = "redis://127.0.0.1:6379/0"
    /// Where the primary is found instead of ``url``. With it, ``username``, ``password``,
    /// ``database`` and ``tls`` describe the data connections.
    public var sentinel: RedisSentinelSettings? = nil
    /// The data connections' ACL user (Sentinel only; with `url` it is part of the URL).
    public var username: String? = nil
    /// The data connections' password (Sentinel only).
    public var password: String? = nil
    /// The data connections' database (Sentinel only).
    public var database: Int = 0
    /// TLS to the sentinels and the data servers (Sentinel only; with `url`, `rediss://`).
    public var tls: Bool = false
    public var keyPrefix: String = "cloakroom:"
    /// Connections for commands, 1...1024 (the pub/sub subscriber has one more of its own).
    public var poolSize: Int = 8
    /// TCP connect and TLS handshake; past it the store answers unavailable (503).
    public var connectTimeout: Duration = .seconds(2)
    /// Each command's reply; past it the store answers unavailable (503).
    public var commandTimeout: Duration = .seconds(1)
    /// Replicas that must confirm (`WAIT`) a login, logout or revocation within the command
    /// timeout before it is acknowledged; fewer answers 503. 0: the primary's word suffices.
    public var minReplicas: Int = 0

    public init(
        url: String = "redis://127.0.0.1:6379/0", sentinel: RedisSentinelSettings? = nil, username: String? = nil,
        password: String? = nil, database: Int = 0, tls: Bool = false, keyPrefix: String = "cloakroom:", poolSize: Int = 8,
        connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(1), minReplicas: Int = 0
    ) {
        self.url = url
        self.sentinel = sentinel
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.keyPrefix = keyPrefix
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.minReplicas = minReplicas
    }
}

/// `session.store.redis.sentinel`: the sentinels to ask for the primary, and how to log in to
/// them (their own password or ACL user, not the data servers').
public struct RedisSentinelSettings: Sendable, Equatable {
    /// The name in the sentinels' `sentinel monitor <name> ...`.
    public var master: String
    /// At least one; `host:port`, the port defaulting to 26379.
    public var addresses: [SocketAddressSpec]
    public var username: String?
    public var password: String?

    public init(master: String, addresses: [SocketAddressSpec], username: String? = nil, password: String? = nil) {
        self.master = master
        self.addresses = addresses
        self.username = username
        self.password = password
    }
}
