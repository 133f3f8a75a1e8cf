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
        let timeouts = SessionTimeouts(idle: settings.idleTimeout, absolute: settings.absoluteTimeout, touchInterval: settings.touchInterval)
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
            do {
                let storeSettings = try RedisSessionStoreSettings(
                    url: redis.url, keyPrefix: redis.keyPrefix, poolSize: redis.poolSize,
                    connectTimeout: redis.connectTimeout, commandTimeout: redis.commandTimeout)
                return try RedisSessionStore(
                    settings: storeSettings, timeouts: timeouts, clock: clock, eventLoopGroup: eventLoopGroup, logger: logger)
            } catch {
                throw ServerStartError.unsupported("session.store.redis: \(error)")
            }
        }
    }
}
