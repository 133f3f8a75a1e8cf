import Logging
import NIOCore
import Synchronization

/// Listens on one pub/sub channel over a connection of its own, for as long as it runs.
///
/// Connects, sends `SUBSCRIBE`, then hands every message's payload to `onMessage` (on an
/// event loop thread). A `PING` every ``pingInterval`` proves the connection still carries
/// data (a missing reply closes it after the command timeout). Whenever the connection is lost
/// it connects again, with the pool's backoff (10 ms doubling to 500 ms). Messages published
/// while it is disconnected are lost: pub/sub keeps no history.
///
/// - Important: Safe to use from any task; ``close()`` stops it for good.
final class RedisSubscriber: Sendable {
    static let pingInterval: Duration = .seconds(2)

    private let connector: RedisConnector
    private let channel: String
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: @Sendable (ByteBuffer) -> Void
    private let state = Mutex(State())

    private struct State {
        var task: Task<Void, Never>?
        var connection: RedisConnection?
        var isSubscribed = false
        /// Confirmed subscriptions so far: one more after every reconnection.
        var confirmations = 0
        var isClosed = false
        var subscribedWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(connector: RedisConnector, channel: String, group: any EventLoopGroup, logger: Logger, onMessage: @escaping @Sendable (ByteBuffer) -> Void) {
        self.connector = connector
        self.channel = channel
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
    }

    /// Starts listening; later calls do nothing.
    func start() {
        state.withLock { state in
            guard state.task == nil, !state.isClosed else { return }
            state.task = Task { await self.run() }
        }
    }

    /// Whether the subscription is confirmed right now.
    var isSubscribed: Bool { state.withLock { $0.isSubscribed } }

    /// How many times a subscription has been confirmed (the first, then each reconnection).
    var confirmations: Int { state.withLock { $0.confirmations } }

    /// Returns once the subscription is confirmed (or the subscriber is closed).
    func waitUntilSubscribed() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state in
                if state.isSubscribed || state.isClosed { return true }
                state.subscribedWaiters.append(waiter)
                return false
            }
            if ready { waiter.resume() }
        }
    }

    func close() async {
        let (task, connection, waiters) = state.withLock { state in
            state.isClosed = true
            state.isSubscribed = false
            defer { state.subscribedWaiters = [] }
            return (state.task, state.connection, state.subscribedWaiters)
        }
        for waiter in waiters { waiter.resume() }
        task?.cancel()
        await connection?.close()
        await task?.value
    }

    private func run() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await listenOnce()
            } catch {
                // A subscription that was up starts a new outage: the backoff starts over.
                let wasSubscribed = state.withLock { $0.isSubscribed }
                failures = wasSubscribed ? 1 : failures + 1
                // Once per outage at info; the retries are debug.
                if failures == 1 {
                    logger.info("redis subscription lost; reconnecting", metadata: ["channel": "\(channel)", "error": "\(error)"])
                } else {
                    logger.debug("redis subscription attempt failed", metadata: ["error": "\(error)"])
                }
            }
            state.withLock { $0.isSubscribed = false; $0.connection = nil }
            let delay = RedisPoolStateMachine<RedisConnection, Never>.backoff(afterFailures: failures)
            try? await Task.sleep(for: delay)
        }
    }

    /// One connection's life: connect, subscribe, ping until it fails. Always throws at the end.
    private func listenOnce() async throws {
        let connection = try await connector.connect(on: group.next())
        let stillOpen = state.withLock { state in
            if !state.isClosed { state.connection = connection }
            return !state.isClosed
        }
        guard stillOpen else {
            await connection.close()
            throw RedisClientError.shutDown
        }
        let onMessage = self.onMessage
        await connection.enterSubscriptionMode { value in
            if let payload = value.elements?[2], case .bulkString(let bytes) = payload { onMessage(bytes) }
        }
        var subscribe = RESPCommandBuilder(argumentCount: 2)
        subscribe.append("SUBSCRIBE")
        subscribe.append(channel)
        let confirmation = try await connection.sendExpectingSuccess(subscribe.buffer)
        guard let elements = confirmation.elements, elements.first?.string == "subscribe" else {
            await connection.close()
            throw RedisClientError.protocolError("unexpected reply to SUBSCRIBE")
        }
        let waiters = state.withLock { state in
            state.isSubscribed = true
            state.confirmations += 1
            defer { state.subscribedWaiters = [] }
            return state.subscribedWaiters
        }
        for waiter in waiters { waiter.resume() }
        logger.debug("redis subscription ready", metadata: ["channel": "\(channel)"])

        // Ping until a ping fails or the connection closes, whichever is first.
        let closeFuture = connection.closeFuture
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await closeFuture.get()
                    throw RedisClientError.connectionClosed
                }
                group.addTask {
                    var ping = RESPCommandBuilder(argumentCount: 1)
                    ping.append("PING")
                    let command = ping.buffer
                    while true {
                        try await Task.sleep(for: Self.pingInterval)
                        _ = try await connection.sendExpectingSuccess(command)
                    }
                }
                try await group.next()
            }
        } catch {
            await connection.close()
            throw error
        }
    }
}
