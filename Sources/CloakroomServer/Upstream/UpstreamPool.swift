import CloakroomConfig
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Keep-alive connections to one upstream's targets, for every event loop: the I/O shell of an
/// ``UpstreamPoolStateMachine``. Each call takes the lock, lets the machine decide, releases the
/// lock, then connects, hands over or closes as told. Connections live on the event loop of the
/// request that made them (client and upstream channels share a loop, so bytes move between
/// them without hops) and are reused only there.
final class UpstreamPool: Sendable {
    typealias Machine = UpstreamPoolStateMachine<UpstreamConnection, PendingAcquisition>

    let targets: UpstreamTargets
    private let machine: Mutex<Machine>
    /// A reload replaced the pool: connections close when their exchange ends.
    private let retired = Atomic<Bool>(false)

    init(targets: UpstreamTargets) {
        self.targets = targets
        let settings = targets.settings
        machine = Mutex(
            Machine(
                settings: .init(
                    targetCount: targets.targets.count, maxConnectionsPerTarget: settings.maxConnections,
                    failurePenalty: UpstreamTargets.failurePenalty, waitTimeout: settings.connectTimeout.timeAmount,
                    idleTimeout: settings.idleTimeout.timeAmount)))
    }

    var name: String { targets.name }

    enum Acquisition {
        /// A pooled keep-alive connection, ready now.
        case idle(UpstreamConnection)
        /// A connection being made (or waited for), or the error that prevented it.
        case later(EventLoopFuture<(connection: UpstreamConnection, reused: Bool)>)
    }

    /// A connection for one exchange on `loop`: an idle pooled connection to the next target in
    /// round-robin order if there is one on this loop (answered without a future, the common
    /// case), else a new one, trying the targets in order. Fails with the last connect error,
    /// or ``UpstreamPoolError``.
    func acquire(on loop: any EventLoop, fresh: Bool = false) -> Acquisition {
        let loopID = ObjectIdentifier(loop)
        let now = NIODeadline.now()
        // One position of the round robin per request, whichever way it goes on.
        let order = machine.withLock { $0.order(now: now) }
        if !fresh, let first = order.first {
            while let leased = machine.withLock({ $0.leaseIdle(on: loopID, target: first) }) {
                // Closed while idle, its channel's end not yet seen: dropped here, its slot
                // freed when that end arrives (``connectionClosed(_:)``).
                if !leased.isClosed { return .idle(leased) }
            }
        }
        let pending = PendingAcquisition(promise: loop.makePromise(), loop: loop, fresh: fresh)
        pending.order = order
        proceed(pending)
        return .later(pending.promise.futureResult)
    }

    /// Asks the machine for the next step of `pending` and carries it out. On `pending.loop`.
    private func proceed(_ pending: PendingAcquisition) {
        let loopID = ObjectIdentifier(pending.loop)
        let now = NIODeadline.now()
        let action = machine.withLock {
            $0.acquire(
                on: loopID, order: pending.order, tried: pending.tried, fresh: pending.fresh, waiter: pending, now: now,
                waitUntil: pending.deadline)
        }
        switch action {
        case .lease(let connection):
            if connection.isClosed { return proceed(pending) }  // as in ``acquire(on:fresh:)``
            pending.succeed(connection, reused: true)
        case .connect(let target):
            connect(target, for: pending)
        case .replaceIdle(let old, let target):
            old.channel.eventLoop.execute { old.close() }
            connect(target, for: pending)
        case .wait(let id, let deadline, let timer):
            pending.deadline = deadline
            armWaitTimer(id: id, at: timer, for: pending)
        case .fail(let error):
            pending.fail(pending.lastError ?? error)
        }
    }

    /// A waiting request's timer: it gives up at its deadline, or takes the slot of a
    /// connection left idle on another loop (``UpstreamPoolStateMachine/waitTimerFired(id:now:)``).
    private func armWaitTimer(id: Int, at time: NIODeadline, for pending: PendingAcquisition) {
        pending.timeout = pending.loop.scheduleTask(deadline: time) { [self] in
            switch machine.withLock({ $0.waitTimerFired(id: id, now: .now()) }) {
            case .none:
                break
            case .rearm(let next):
                armWaitTimer(id: id, at: next, for: pending)
            case .replaceIdle(let old, let target, let waiter):
                old.channel.eventLoop.execute { old.close() }
                waiter.timeout = nil
                connect(target, for: waiter)
            case .timedOut(let waiter):
                waiter.fail(waiter.lastError ?? UpstreamPoolError.exhausted)
            }
        }
    }

    private func connect(_ target: Int, for pending: PendingAcquisition) {
        let loop = pending.loop
        let spec = targets.targets[target]
        let timeout = targets.settings.connectTimeout.timeAmount
        let host = targets.hostHeaders[target]
        // For an https target the connection is handed out once its handshake is done and
        // verified (``UpstreamHandshakeHandler``); TLS sits below the HTTP/1.1 handler.
        let tls = spec.isTLS ? targets.tls.map { (context: $0, serverName: targets.serverNames[target]) } : nil
        let handshake = tls == nil ? nil : loop.makePromise(of: Void.self)
        let verifiedName = targets.verifiedNames[target]
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls, let handshake {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                        try pipeline.addHandler(
                            UpstreamHandshakeHandler(
                                promise: handshake, timeout: timeout, target: spec.description, verifiedName: verifiedName))
                    }
                    try pipeline.addHandler(
                        UpstreamConnection(channel: channel, targetIndex: target, host: host, targetHost: spec.hostHeaderValue))
                }
            }
        let connected = targets.addresses[target].map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: spec.host, port: spec.port)
        let ready: EventLoopFuture<any Channel>
        if let handshake {
            connected.whenFailure { handshake.fail($0) }
            ready = connected.flatMap { channel in handshake.futureResult.map { channel } }
        } else {
            ready = connected
        }
        ready.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                do {
                    let connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    connection.pool = self
                    machine.withLock { $0.connected(target: target) }
                    pending.succeed(connection, reused: false)
                } catch {
                    channel.close(promise: nil)
                    connectFailed(target, error: error, for: pending)
                }
            case .failure(let error):
                connected.whenSuccess { $0.close(promise: nil) }
                connectFailed(target, error: error, for: pending)
            }
        }
    }

    private func connectFailed(_ target: Int, error: any Error, for pending: PendingAcquisition) {
        let action = machine.withLock { $0.connectFailed(target: target, on: ObjectIdentifier(pending.loop), now: .now()) }
        perform(action)
        pending.tried.append(target)
        pending.lastError = error
        proceed(pending)
    }

    // MARK: Returning connections

    /// Returns a connection after an exchange: reusable ones go idle (closed after the
    /// upstream's `idle_timeout`) or straight to a request waiting on this loop; others close.
    func release(_ connection: UpstreamConnection) {
        let loop = connection.channel.eventLoop
        loop.preconditionInEventLoop()
        let action = machine.withLock {
            $0.release(
                connection, target: connection.targetIndex, on: ObjectIdentifier(loop),
                reusable: connection.isReusable && !retired.load(ordering: .relaxed), now: .now())
        }
        switch action {
        case .keepIdle(let scheduleSweep, let deadline):
            connection.idleSince = .now()
            if scheduleSweep { scheduleSweepOf(loop, at: deadline) }
        case .close:
            connection.close()
        case .waiter(let waiterAction):
            perform(waiterAction)
        }
    }

    /// Called once when a connection's channel closes, pooled or not.
    func connectionClosed(_ connection: UpstreamConnection) {
        let loop = ObjectIdentifier(connection.channel.eventLoop)
        let action = machine.withLock { $0.connectionClosed(connection, target: connection.targetIndex, on: loop) }
        perform(action)
    }

    /// A connection that became a tunnel: no longer the pool's, its slot free.
    func detach(_ connection: UpstreamConnection) {
        let loop = ObjectIdentifier(connection.channel.eventLoop)
        let action = machine.withLock { $0.detached(target: connection.targetIndex, on: loop) }
        connection.pool = nil
        perform(action)
    }

    private func perform(_ action: Machine.WaiterAction) {
        switch action {
        case .none:
            break
        case .handOver(let connection, let waiter):
            waiter.succeed(connection, reused: true)
        case .retry(let waiter, _):
            waiter.loop.execute { [self] in
                waiter.timeout?.cancel()
                waiter.timeout = nil
                proceed(waiter)
            }
        }
    }

    // MARK: Idle connections

    /// Idle connections expire through one sweep task per loop rather than a timer each, so a
    /// request that takes and returns a connection schedules nothing.
    private func scheduleSweepOf(_ loop: any EventLoop, at deadline: NIODeadline) {
        loop.scheduleTask(deadline: deadline) { [self] in
            let (expired, next) = machine.withLock { $0.sweepIdle(on: ObjectIdentifier(loop), now: .now()) }
            for connection in expired { connection.close() }
            if let next { scheduleSweepOf(loop, at: next) }
        }
    }

    /// Replaced by a reload: idle connections close now, the others once their exchange ends.
    func retire(on loops: [any EventLoop]) {
        retired.store(true, ordering: .relaxed)
        closeIdle(on: loops)
    }

    /// Closes every idle connection (shutdown), each on its own loop.
    func closeIdle(on loops: [any EventLoop]) {
        for loop in loops {
            loop.execute { [self] in
                for connection in machine.withLock({ $0.takeIdle(on: ObjectIdentifier(loop)) }) { connection.close() }
            }
        }
    }

    /// For tests: connections counted against `max_connections`, and idle ones.
    var counts: (open: [Int], idle: Int) {
        machine.withLock { machine in ((0..<targets.targets.count).map { machine.openConnections(target: $0) }, machine.idleCount) }
    }
}

/// One request's way to a connection: the targets it tried, the last error, its wait.
///
/// - Important: Loop-bound: used on ``loop`` (the pool's machine holds it only as a token).
final class PendingAcquisition: @unchecked Sendable {
    let promise: EventLoopPromise<(connection: UpstreamConnection, reused: Bool)>
    let loop: any EventLoop
    let fresh: Bool
    var order: [Int] = []
    var tried: [Int] = []
    var lastError: (any Error)?
    var deadline: NIODeadline?
    var timeout: Scheduled<Void>?

    init(promise: EventLoopPromise<(connection: UpstreamConnection, reused: Bool)>, loop: any EventLoop, fresh: Bool) {
        self.promise = promise
        self.loop = loop
        self.fresh = fresh
    }

    func succeed(_ connection: UpstreamConnection, reused: Bool) {
        timeout?.cancel()
        timeout = nil
        promise.succeed((connection, reused))
    }

    func fail(_ error: any Error) {
        timeout?.cancel()
        timeout = nil
        promise.fail(error)
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
