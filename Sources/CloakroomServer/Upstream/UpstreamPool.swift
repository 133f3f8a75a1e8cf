import CloakroomConfig
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive connections to one upstream's targets, owned by one event loop: requests on that
/// loop take connections from it without locks, and client and upstream channels share the
/// loop, so bytes move between them without hops.
///
/// - Important: Every method must be called on ``eventLoop``. The pool is `@unchecked Sendable`
///   only so that the registry holding one pool per loop can be shared; each pool is touched by
///   its own loop alone (asserted).
final class UpstreamPool: @unchecked Sendable {
    let eventLoop: any EventLoop
    let targets: UpstreamTargets
    /// Idle connections per target, most recently used last.
    private var idle: [[UpstreamConnection]]
    /// Requests waiting for a connection slot when every target is at `max_connections`.
    private var waiters: [(promise: EventLoopPromise<UpstreamConnection>, timeout: Scheduled<Void>)] = []
    private var sweepScheduled = false

    init(eventLoop: any EventLoop, targets: UpstreamTargets) {
        self.eventLoop = eventLoop
        self.targets = targets
        self.idle = targets.targets.map { _ in [] }
    }

    /// A connection for one exchange to the next target in round-robin order: an idle pooled
    /// connection to it if there is one (`reused` true), else a new one. A target that refuses
    /// is skipped for the next. Fails with the last connect error, or ``UpstreamPoolError``.
    func acquire(fresh: Bool = false) -> Acquisition {
        eventLoop.preconditionInEventLoop()
        let order = targets.order()
        // The common case, answered without a future: the first target has an idle connection.
        if !fresh, let index = order.first {
            while let connection = idle[index].popLast() {
                if !connection.isClosed { return .idle(connection) }
            }
        }
        return .later(next(order: order[...], fresh: fresh, lastError: nil))
    }

    enum Acquisition {
        /// A pooled keep-alive connection, ready now.
        case idle(UpstreamConnection)
        /// A connection being made (or waited for), or the error that prevented it.
        case later(EventLoopFuture<(connection: UpstreamConnection, reused: Bool)>)
    }

    private func next(
        order: ArraySlice<Int>, fresh: Bool, lastError: (any Error)?
    ) -> EventLoopFuture<(connection: UpstreamConnection, reused: Bool)> {
        guard let index = order.first else {
            return eventLoop.makeFailedFuture(lastError ?? UpstreamPoolError.noTarget)
        }
        if !fresh {
            while let connection = idle[index].popLast() {
                if !connection.isClosed { return eventLoop.makeSucceededFuture((connection, true)) }
            }
        }
        return connect(index, waitIfFull: order.count == 1)
            .map { ($0, false) }
            .flatMapError { error in
                if error is UpstreamPoolError { return self.eventLoop.makeFailedFuture(error) }
                return self.next(order: order.dropFirst(), fresh: fresh, lastError: error)
            }
    }

    private func connect(_ index: Int, waitIfFull: Bool) -> EventLoopFuture<UpstreamConnection> {
        guard targets.reserve(index) else {
            // This target is at max_connections: wait for a release when it is the last choice.
            return waitIfFull ? waitForConnection() : eventLoop.makeFailedFuture(TargetFull())
        }
        let target = targets.targets[index]
        let settings = targets.settings
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = UpstreamConnection(channel: channel, targetIndex: index)
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        let connected = targets.addresses[index].map { bootstrap.connect(to: $0) }
            ?? bootstrap.connect(host: target.host, port: target.port)
        return connected
            .flatMapThrowing { channel -> UpstreamConnection in
                let connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                connection.pool = self
                self.targets.markHealthy(index)
                return connection
            }
            .flatMapErrorThrowing { error in
                self.targets.releaseSlot(index)
                self.targets.markFailed(index)
                throw error
            }
    }

    private func waitForConnection() -> EventLoopFuture<UpstreamConnection> {
        let promise = eventLoop.makePromise(of: UpstreamConnection.self)
        // Holds the pool until it fires or is cancelled: a weak capture would give the pool a
        // side table, slowing every retain of it for good.
        let timeout = eventLoop.scheduleTask(in: targets.settings.connectTimeout.timeAmount) { [self] in
            guard let at = self.waiters.firstIndex(where: { $0.promise.futureResult === promise.futureResult }) else { return }
            self.waiters.remove(at: at)
            promise.fail(UpstreamPoolError.exhausted)
        }
        waiters.append((promise, timeout))
        return promise.futureResult
    }

    /// Returns a connection after an exchange. Reusable ones go idle (closed after the
    /// upstream's `idle_timeout`) or straight to a waiting request; others are closed.
    func release(_ connection: UpstreamConnection) {
        eventLoop.preconditionInEventLoop()
        guard connection.isReusable else {
            connection.close()
            return
        }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            waiter.timeout.cancel()
            waiter.promise.succeed(connection)
            return
        }
        connection.idleSince = .now()
        idle[connection.targetIndex].append(connection)
        if !sweepScheduled { scheduleSweep(at: .now() + targets.settings.idleTimeout.timeAmount) }
    }

    /// Idle connections expire through one sweep task per pool rather than a timer each, so a
    /// request that takes and returns a connection schedules nothing.
    private func scheduleSweep(at deadline: NIODeadline) {
        sweepScheduled = true
        eventLoop.scheduleTask(deadline: deadline) { self.sweepIdle() }
    }

    private func sweepIdle() {
        sweepScheduled = false
        let now = NIODeadline.now()
        let timeout = targets.settings.idleTimeout.timeAmount
        var earliest: NIODeadline?
        var expired: [UpstreamConnection] = []
        for index in idle.indices {
            idle[index].removeAll { connection in
                let expiry = connection.idleSince + timeout
                if expiry <= now || connection.isClosed {
                    expired.append(connection)
                    return true
                }
                earliest = min(earliest ?? expiry, expiry)
                return false
            }
        }
        // Closed outside the loop: closing fires channelInactive, which updates `idle`.
        for connection in expired { connection.close() }
        if let earliest { scheduleSweep(at: earliest) }
    }

    /// Called once when a connection's channel closes, pooled or not.
    /// A connection that became a tunnel: no longer the pool's.
    func detach(_ connection: UpstreamConnection) {
        connectionClosed(connection)
        connection.pool = nil
    }

    func connectionClosed(_ connection: UpstreamConnection) {
        targets.releaseSlot(connection.targetIndex)
        idle[connection.targetIndex].removeAll { $0 === connection }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            waiter.timeout.cancel()
            next(order: targets.order()[...], fresh: true, lastError: nil).map(\.connection).cascade(to: waiter.promise)
        }
    }

    /// Closes every idle connection (shutdown).
    func closeIdle() {
        for list in idle { for connection in list { connection.close() } }
        idle = idle.map { _ in [] }
    }
}

/// A target at `max_connections` while others remain to try.
struct TargetFull: Error {}

enum UpstreamPoolError: Error, CustomStringConvertible {
    case noTarget
    case exhausted
    var description: String {
        switch self {
        case .noTarget: return "no upstream target"
        case .exhausted: return "every target is at max_connections"
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
