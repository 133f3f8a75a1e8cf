import CloakroomConfig
import CloakroomFileStore
import CloakroomRedis
import CloakroomSessions
import Logging
import NIOCore

/// Opens the store `session.store` names. A store that cannot be opened throws
/// ``ServerStartError`` naming the key.
enum SessionStoreFactory {
    /// - Parameter eventLoopGroup: the server's loops, which the Redis store's connections share.
    static func open(
        _ settings: SessionSettings, clock: any WallClock, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> any SessionStore {
        let timeouts = SessionTimeouts(settings)
        switch settings.store {
        case .memory(let memory):
            return MemorySessionStore(maxSessions: memory.maxSessions, timeouts: timeouts, clock: clock)
        case .file(let file):
            do {
                return try await FileSessionStore.open(path: file.path, timeouts: timeouts, clock: clock, logger: logger)
            } catch {
                throw ServerStartError.unsupported("session.store.file.path: \(error)")
            }
        case .redis(let redis):
            // Redis need not be up at start: the store connects on first use, and until Redis
            // answers, routes that need a session get 503 and /healthz says so.
            // With Sentinel, the sentinels need not be up either: until they name a primary
            // that answers as one, it is the same 503.
            do {
                let storeSettings = try redisSettings(redis)
                return try RedisSessionStore(
                    settings: storeSettings, timeouts: timeouts, clock: clock, eventLoopGroup: eventLoopGroup, logger: logger)
            } catch {
                throw ServerStartError.unsupported("session.store.redis: \(error)")
            }
        }
    }

    /// How often the server sweeps expired sessions: at each touch interval, at least once a
    /// minute (shorter than the Redis store's grace after a deadline, so an expiry is seen).
    static func sweepInterval(_ settings: SessionSettings) -> Duration {
        min(settings.effectiveTouchInterval, .seconds(60))
    }

    /// `session.store.redis` as the store takes it: a URL, or the sentinels with the data
    /// connections' login, database and TLS.
    static func redisSettings(_ redis: RedisStoreSettings) throws -> RedisSessionStoreSettings {
        guard let sentinel = redis.sentinel else {
            return try RedisSessionStoreSettings(
                url: redis.url, keyPrefix: redis.keyPrefix, poolSize: redis.poolSize,
                connectTimeout: redis.connectTimeout, commandTimeout: redis.commandTimeout, minReplicas: redis.minReplicas)
        }
        let sentinels = RedisSentinelConfiguration(
            masterName: sentinel.master, sentinels: sentinel.addresses.map { RedisEndpoint(host: $0.host, port: $0.port) },
            user: sentinel.username, password: sentinel.password)
        return RedisSessionStoreSettings(
            sentinel: sentinels, user: redis.username, password: redis.password, database: redis.database, usesTLS: redis.tls,
            keyPrefix: redis.keyPrefix, poolSize: redis.poolSize, connectTimeout: redis.connectTimeout,
            commandTimeout: redis.commandTimeout, minReplicas: redis.minReplicas)
    }
}

extension SessionTimeouts {
    /// `session.idle_timeout`, `absolute_timeout` and the effective `touch_interval`, as the
    /// stores take them at open and on every reload (``SessionStore/updateTimeouts(_:)``).
    init(_ settings: SessionSettings) {
        self.init(idle: settings.idleTimeout, absolute: settings.absoluteTimeout, touchInterval: settings.effectiveTouchInterval)
    }
}
