import CloakroomConfig
import CloakroomFileStore
import CloakroomSessions
import Logging

/// Opens the store `session.store` names. A store kind this build cannot open throws
/// ``ServerStartError`` naming the key.
enum SessionStoreFactory {
    static func open(_ settings: SessionSettings, clock: any WallClock, logger: Logger) async throws -> any SessionStore {
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
        case .redis:
            throw ServerStartError.unsupported("session.store.redis: the Redis store is not available in this build yet")
        }
    }
}
