import Logging
import NIOCore
import Synchronization

/// A bounded set of connections to one Redis server (or to the primary the sentinels name),
/// shared by every caller.
///
/// Opens lazily (the first command connects) and keeps itself connected: closed connections
/// are replaced, failed attempts retried with backoff, so service resumes on its own within
/// about half a second of Redis coming back. The policy lives in ``RedisPoolStateMachine``;
/// this class only locks it, then does what it says after unlocking.
///
/// - Important: Safe to use from any task. The lock is held only to update the state machine;
///   no I/O and no callback runs under it.
final class RedisConnectionPool: Sendable {
    typealias Waiter = CheckedContinuation<RedisConnection, any Error>

    private let state: Mutex<RedisPoolStateMachine<RedisConnection, Waiter>>
    /// Connection attempts under way, so ``close()`` can wait for them.
    private let attempts = Mutex<[Int: Task<Void, Never>]>([:])
    private let attemptIDs = Atomic<Int>(0)
    private let connector: any RedisConnecting
    private let group: any EventLoopGroup
    private let logger: Logger

    init(connector: any RedisConnecting, size: Int, group: any EventLoopGroup, logger: Logger) {
        self.state = Mutex(RedisPoolStateMachine(size: size))
        self.connector = connector
        self.group = group
        self.logger = logger
    }

    /// A ready connection: at once when one is, otherwise after an attempt under way succeeds.
    /// Throws a ``RedisClientError`` when none can be had.
    func connection() async throws -> RedisConnection {
        if let connection = state.withLock({ $0.readyConnection() }) { return connection }
        return try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let action = state.withLock { $0.lease(waiter) }
            switch action {
            case .use(let connection):
                waiter.resume(returning: connection)
            case .wait(let slots):
                for slot in slots { startConnecting(slot) }
            case .fail(let error):
                waiter.resume(throwing: error)
            }
        }
    }

    /// A ready connection without waiting, preferably one on `eventLoop` (so a caller there
    /// needs no thread hop), or `nil` when none is ready.
    func readyConnection(preferring eventLoop: any EventLoop) -> RedisConnection? {
        state.withLock { $0.readyConnection(preferring: { $0.eventLoop === eventLoop }) }
    }

    /// The primary changed: slots waiting out a backoff connect now rather than at the end of
    /// it. (Connections to the previous primary are closed by whoever knew it was replaced;
    /// their slots reconnect on their own.)
    func kick() {
        let slots = state.withLock { $0.kick() }
        for slot in slots { startConnecting(slot) }
    }

    /// Closes every connection and fails whoever waits; later calls fail with
    /// ``RedisClientError/shutDown``. Returns when all connections are closed.
    func close() async {
        let action = state.withLock { $0.shutDown() }
        for waiter in action.waiters { waiter.resume(throwing: RedisClientError.shutDown) }
        for connection in action.connections { await connection.close() }
        while true {
            let pending = attempts.withLock { Array($0.values) }
            if pending.isEmpty { break }
            for attempt in pending { await attempt.value }
        }
    }

    // MARK: Carrying out the state machine's actions

    private func startConnecting(_ slot: Int) {
        let id = attemptIDs.wrappingAdd(1, ordering: .relaxed).oldValue
        // The task removes itself when done; registering it under the same lock it removes
        // itself under means it cannot finish before it is registered.
        attempts.withLock { attempts in
            attempts[id] = Task {
                await self.connect(slot)
                _ = self.attempts.withLock { $0.removeValue(forKey: id) }
            }
        }
    }

    private func connect(_ slot: Int) async {
        let eventLoop = group.next()
        do {
            let connection = try await connector.connect(on: eventLoop)
            let action = state.withLock { $0.connected(slot: slot, connection) }
            if action.close {
                await connection.close()
                return
            }
            if action.outageEnded { logger.info("redis reachable again", metadata: ["server": "\(connector.label)"]) }
            connection.closeFuture.whenComplete { _ in self.closed(slot: slot, connection) }
            for waiter in action.waiters { waiter.resume(returning: connection) }
            for other in action.connect { startConnecting(other) }
        } catch {
            let clientError = error as? RedisClientError ?? .connectFailed("\(error)")
            let action = state.withLock { $0.connectFailed(slot: slot, clientError) }
            for waiter in action.waiters { waiter.resume(throwing: clientError) }
            if action.outageStarted {
                logger.warning("redis unreachable; retrying every 500 ms at most", metadata: [
                    "server": "\(connector.label)", "error": "\(clientError)",
                ])
            }
            if let delay = action.retryAfter {
                logger.debug("redis connect failed; retrying", metadata: ["slot": "\(slot)", "error": "\(clientError)", "retry_in": "\(delay)"])
                // A little jitter so the slots do not retry in lockstep.
                let jittered = TimeAmount(delay * Double.random(in: 0.75...1.0))
                eventLoop.scheduleTask(in: jittered) { self.retry(slot: slot) }
            }
        }
    }

    private func retry(slot: Int) {
        if state.withLock({ $0.retry(slot: slot) }) { startConnecting(slot) }
    }

    private func closed(slot: Int, _ connection: RedisConnection) {
        if state.withLock({ $0.closed(slot: slot, connection) }) {
            logger.debug("redis connection closed; reconnecting", metadata: ["slot": "\(slot)"])
            startConnecting(slot)
        }
    }
}
