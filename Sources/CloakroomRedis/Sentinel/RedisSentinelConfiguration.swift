/// How to find the primary through Redis Sentinel: the master's name as the sentinels know it,
/// where the sentinels are, and how to log in to them. The data connections' own login,
/// database and TLS stay in ``RedisClientConfiguration``; TLS, when on, applies to the sentinels
/// too, with the same trust roots.
public struct RedisSentinelConfiguration: Sendable, Hashable {
    /// The name in the sentinels' `sentinel monitor <name> ...`.
    public var masterName: String
    /// Any number of sentinels; any one that answers will do, and each is subscribed to for
    /// `+switch-master`.
    public var sentinels: [RedisEndpoint]
    /// The sentinels' ACL user (Redis 6.2+), or nil for `requirepass` only (or no login).
    public var user: String?
    /// The sentinels' password (their own `requirepass` or ACL password, not the data servers').
    public var password: String?

    public init(masterName: String, sentinels: [RedisEndpoint], user: String? = nil, password: String? = nil) {
        precondition(!sentinels.isEmpty, "Sentinel needs at least one sentinel address")
        self.masterName = masterName
        self.sentinels = sentinels
        self.user = user
        self.password = password
    }
}
