import CloakroomSessions
import Logging
import NIOCore
import Synchronization

/// Revocations announced through Redis pub/sub.
extension RedisSessionStore {
    /// Registers `observer` and, on the first call, starts the subscriber: a connection of its
    /// own that `SUBSCRIBE`s to `<prefix>endings` and reconnects with backoff when lost.
    /// `observer` is called on an event loop thread, for every revocation by any instance
    /// (this one included), so it must return quickly. Revocations published while the
    /// subscriber is disconnected are missed; the server's periodic
    /// ``liveKeys(among:)`` check catches those.
    public func observeEndings(_ observer: @escaping @Sendable (SessionEnding) -> Void) {
        observers.add(observer)
        subscriber.start()
    }

    /// Returns once the endings subscription is confirmed by Redis (for tests and start-up
    /// checks; revocations before that moment are not observed).
    func waitUntilSubscribed() async {
        await subscriber.waitUntilSubscribed()
    }

    public func endingsObserved() async {
        await waitUntilSubscribed()
    }
}

/// The registered observers, and the payload format on the endings channel:
/// `k:<hex>` one session, `u:<sub>` a user's sessions, `*` everyone.
final class EndingObservers: Sendable {
    static let everyonePayload = "*"

    private let observers = Mutex<[@Sendable (SessionEnding) -> Void]>([])
    private let keys: RedisKeySpace
    private let logger: Logger

    init(keys: RedisKeySpace, logger: Logger) {
        self.keys = keys
        self.logger = logger
    }

    func add(_ observer: @escaping @Sendable (SessionEnding) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Decodes one message and calls every observer with it; malformed messages are logged
    /// and dropped.
    func deliver(_ payload: ByteBuffer) {
        guard let ending = Self.ending(from: payload) else {
            logger.warning("ignoring a malformed message on the session endings channel", metadata: ["channel": "\(keys.endingsChannel)"])
            return
        }
        let current = observers.withLock { $0 }
        for observer in current { observer(ending) }
    }

    static func ending(from payload: ByteBuffer) -> SessionEnding? {
        let text = String(buffer: payload)
        if text == everyonePayload { return .everyone }
        if text.hasPrefix("k:") {
            return SessionKey(hex: text.dropFirst(2)).map { .session($0) }
        }
        if text.hasPrefix("u:") {
            let subject = String(text.dropFirst(2))
            return subject.isEmpty ? nil : .subject(subject)
        }
        return nil
    }
}
