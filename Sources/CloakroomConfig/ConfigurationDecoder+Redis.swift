/// `session.store.redis`: one server by `url`, or Redis Sentinel.
extension ConfigurationDecoder {
    static let redisKeys = [
        "url", "sentinel", "username", "password", "db", "tls", "key_prefix", "pool_size", "connect_timeout",
        "command_timeout", "min_replicas",
    ]
    /// Keys that describe the data connections when the primary comes from the sentinels; with
    /// `url`, the URL says all of it.
    static let redisSentinelOnlyKeys = ["username", "password", "db", "tls"]
    static let defaultSentinelPort = 26379

    func redisStore(_ value: YAMLValue) -> RedisStoreSettings? {
        guard let map = reader.mapping(value, knownKeys: Self.redisKeys) else { return nil }
        var redis = RedisStoreSettings()
        if map["url"] != nil, map["sentinel"] != nil {
            reader.report("give either url (one server) or sentinel (its primary), not both", at: map.path.appending("sentinel"))
        }
        if let url = map.optional("url", redisURL) { redis.url = url }
        if let sentinel = map.optional("sentinel", redisSentinel) { redis.sentinel = sentinel }
        if map["sentinel"] == nil {
            for key in Self.redisSentinelOnlyKeys where map[key] != nil {
                reader.report(
                    "only with sentinel; with url, write it in the URL: redis[s]://user:password@host:port/db",
                    at: map.path.appending(key))
            }
        } else {
            redis.username = map.optional("username", { reader.nullable($0, { reader.string($0) }) }) ?? nil
            redis.password = map.optional("password", { reader.nullable($0, { reader.string($0) }) }) ?? nil
            if let database = map.optional("db", { reader.integer($0, atLeast: 0, atMost: 999_999) }) { redis.database = database }
            if let tls = map.optional("tls", boolean) { redis.tls = tls }
            checkLogin(username: redis.username, password: redis.password, in: map)
        }
        if let prefix = map.optional("key_prefix", { reader.string($0, allowEmpty: true) }) {
            redis.keyPrefix = prefix
        }
        if let size = map.optional("pool_size", redisPoolSize) { redis.poolSize = size }
        if let timeout = map.optional("connect_timeout", reader.duration) { redis.connectTimeout = timeout }
        if let timeout = map.optional("command_timeout", reader.duration) { redis.commandTimeout = timeout }
        if let replicas = map.optional("min_replicas", { reader.integer($0, atLeast: 0) }) { redis.minReplicas = replicas }
        return redis
    }

    private func redisSentinel(_ value: YAMLValue) -> RedisSentinelSettings? {
        guard let map = reader.mapping(value, knownKeys: ["master", "addresses", "username", "password"]) else { return nil }
        let master = map.required("master", sentinelMasterName)
        let addresses = map.required("addresses", sentinelAddresses)
        let username = map.optional("username", { reader.nullable($0, { reader.string($0) }) }) ?? nil
        let password = map.optional("password", { reader.nullable($0, { reader.string($0) }) }) ?? nil
        checkLogin(username: username, password: password, in: map)
        guard let master, let addresses else { return nil }
        return RedisSentinelSettings(master: master, addresses: addresses, username: username, password: password)
    }

    /// The name sentinels know the master by: one word, as it appears in `sentinel monitor`.
    private func sentinelMasterName(_ value: YAMLValue) -> String? {
        guard let name = reader.string(value) else { return nil }
        guard name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            reader.report("expected the master's name as in `sentinel monitor <name>` (printable ASCII, no spaces)", at: value.path)
            return nil
        }
        return name
    }

    private func sentinelAddresses(_ value: YAMLValue) -> [SocketAddressSpec]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("list at least one sentinel, as host:port", at: value.path)
            return nil
        }
        var seen = Set<SocketAddressSpec>()
        let addresses = items.compactMap { item -> SocketAddressSpec? in
            guard let text = reader.scalarText(item, expecting: "host:port like 10.0.0.1:26379") else { return nil }
            guard let address = reader.check(
                SocketAddressSpec.parse(text, defaultPort: Self.defaultSentinelPort, minimumPort: 1), at: item.path)
            else { return nil }
            guard seen.insert(address).inserted else {
                reader.report("\(address) is listed twice", at: item.path)
                return nil
            }
            return address
        }
        return addresses.count == items.count ? addresses : nil
    }

    /// An ACL user logs in with `AUTH user password`: a user alone cannot log in.
    private func checkLogin(username: String?, password: String?, in map: YAMLMapping) {
        if username != nil, password == nil, reader.isValid(map.path.appending("password")) {
            reader.report("a username needs a password", at: map.path.appending("username"))
        }
    }

    /// `true` or `false` (a YAML boolean, also accepted quoted; any case), for every boolean key.
    func boolean(_ value: YAMLValue) -> Bool? {
        guard let text = reader.scalarText(value, expecting: "true or false") else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default:
            reader.report("expected true or false, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
    }

    private func redisPoolSize(_ value: YAMLValue) -> Int? {
        guard let size = reader.integer(value, atLeast: 1) else { return nil }
        guard size <= 1024 else {
            reader.report("must be at most 1024, got \(size)", at: value.path)
            return nil
        }
        return size
    }

    private func redisURL(_ value: YAMLValue) -> String? {
        guard let url = reader.string(value) else { return nil }
        let lowered = url.lowercased()
        guard lowered.hasPrefix("redis://") || lowered.hasPrefix("rediss://") else {
            // The value is not echoed: it may carry a password.
            reader.report("expected a redis:// or rediss:// URL", at: value.path)
            return nil
        }
        return url
    }
}
