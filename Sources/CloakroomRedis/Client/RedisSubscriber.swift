import Logging
import NIOCore
import Synchronization

/// Listens on pub/sub channels over a connection of its own, for as long as it runs.
///
/// Connects, sends `SUBSCRIBE`, then hands every message's channel and payload to `onMessage` (on an
/// event loop thread). A `PING` every ``pingInterval`` proves the connection still carries
/// data (a missing reply closes it after the command timeout). Whenever the connection is lost
/// it connects again, with the pool's backoff (10 ms doubling to 500 ms), which ``kick()`` cuts
/// short. Messages published while it is disconnected are lost: pub/sub keeps no history.
///
/// The connector decides where it connects: a fixed server, a sentinel (for `+switch-master`),
/// or the current primary, so the revocation channel moves with the primary: its connection to
/// a replaced primary is closed, and the next one goes to the new primary.
///
/// - Important: Safe to use from any task; ``close()`` stops it for good.
final class RedisSubscriber: Sendable {
    static let pingInterval: Duration = .seconds(2)

    private let connector: any RedisConnecting
    private let channels: [String]
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void
    private let onSubscribed: (@Sendable (Int) -> Void)?
    private let onLost: (@Sendable () -> Void)?
    private let state = Mutex(State())

    private struct State {
        var task: Task<Void, Never>?
        var connection: RedisConnection?
        var isSubscribed = false
        /// Confirmed subscriptions so far: one more after every reconnection.
        var confirmations = 0
        var isClosed = false
        var subscribedWaiters: [CheckedContinuation<Void, Never>] = []
        /// The backoff under way between two attempts, which ``kick()`` ends early.
        var pause: CheckedContinuation<Void, Never>?
        /// A kick that came while no backoff was under way: the next one is skipped.
        var kicked = false
    }

    /// - Parameter onSubscribed: called with ``confirmations`` each time a subscription is
    ///   confirmed (on the first one, and after each reconnection: messages may have been
    ///   missed in between).
    /// - Parameter onLost: called when a confirmed subscription's connection is lost (once per
    ///   outage, not per failed attempt).
    init(
        connector: any RedisConnecting, channels: [String], group: any EventLoopGroup, logger: Logger,
        onSubscribed: (@Sendable (Int) -> Void)? = nil, onLost: (@Sendable () -> Void)? = nil,
        onMessage: @escaping @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void
    ) {
        self.connector = connector
        self.channels = channels
        self.group = group
        self.logger = logger
        self.onSubscribed = onSubscribed
        self.onLost = onLost
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

    /// Ends the backoff under way, if any, so the next attempt starts now (the primary has
    /// just changed, and the attempt will likely succeed); a kick while connected or connecting
    /// skips the next backoff instead.
    func kick() {
        let pause = state.withLock { state in
            guard let pause = state.pause else {
                state.kicked = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.pause = nil
            return pause
        }
        pause?.resume()
    }

    func close() async {
        let (task, connection, waiters, pause) = state.withLock { state in
            state.isClosed = true
            state.isSubscribed = false
            defer { state.subscribedWaiters = []; state.pause = nil }
            return (state.task, state.connection, state.subscribedWaiters, state.pause)
        }
        for waiter in waiters { waiter.resume() }
        pause?.resume()
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
                // Closed (shutdown): nothing was lost, and nothing reconnects.
                if Task.isCancelled || state.withLock({ $0.isClosed }) { return }
                // A subscription that was up starts a new outage: the backoff starts over.
                let wasSubscribed = state.withLock { $0.isSubscribed }
                failures = wasSubscribed ? 1 : failures + 1
                if wasSubscribed { onLost?() }
                // Once per outage at info; the retries are debug.
                if failures == 1 {
                    logger.info("redis subscription lost; reconnecting", metadata: [
                        "channel": "\(channels[0])", "server": "\(connector.label)", "error": "\(error)",
                    ])
                } else {
                    logger.debug("redis subscription attempt failed", metadata: ["error": "\(error)"])
                }
            }
            state.withLock { $0.isSubscribed = false; $0.connection = nil }
            await pause(for: RedisPoolStateMachine<RedisConnection, Never>.backoff(afterFailures: failures))
        }
    }

    /// Waits `delay`, or less if ``kick()`` or ``close()`` ends it.
    private func pause(for delay: Duration) async {
        await withCheckedContinuation { (pause: CheckedContinuation<Void, Never>) in
            let skip = state.withLock { state in
                if state.kicked || state.isClosed {
                    state.kicked = false
                    return true
                }
                state.pause = pause
                return false
            }
            if skip { return pause.resume() }
            group.any().scheduleTask(in: TimeAmount(delay)) {
                // Whichever ends the pause first takes it out; a later timer finds nothing (or
                // the next pause, which it then ends a little early: harmless).
                let ended = self.state.withLock { state in
                    defer { state.pause = nil }
                    return state.pause
                }
                ended?.resume()
            }
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
            // `message`, channel, payload.
            guard let parts = value.elements, parts.count == 3, parts[0].string == "message", let channel = parts[1].string,
                case .bulkString(let bytes) = parts[2]
            else { return }
            onMessage(channel, bytes)
        }
        // One channel per `SUBSCRIBE`: each is answered by exactly one confirmation, which the
        // connection takes as that command's reply (a `SUBSCRIBE` of several channels gets one
        // confirmation per channel, and the extra ones would answer no command).
        for channel in channels {
            var subscribe = RESPCommandBuilder(argumentCount: 2)
            subscribe.append("SUBSCRIBE")
            subscribe.append(channel)
            let confirmation = try await connection.sendExpectingSuccess(subscribe.buffer)
            guard let elements = confirmation.elements, elements.first?.string == "subscribe" else {
                await connection.close()
                throw RedisClientError.protocolError("unexpected reply to SUBSCRIBE")
            }
        }
        let (waiters, confirmations) = state.withLock { state in
            state.isSubscribed = true
            state.confirmations += 1
            state.kicked = false
            defer { state.subscribedWaiters = [] }
            return (state.subscribedWaiters, state.confirmations)
        }
        for waiter in waiters { waiter.resume() }
        onSubscribed?(confirmations)
        logger.debug("redis subscription ready", metadata: ["channels": "\(channels.joined(separator: " "))"])

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
