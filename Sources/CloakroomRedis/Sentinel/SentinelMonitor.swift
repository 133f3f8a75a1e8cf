import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Follows the primary of one master through Redis Sentinel, and opens connections to it.
///
/// As a ``RedisConnecting``, it is what the store's pools and revocation subscriber connect
/// through: each connection goes to the primary in use, is checked with `ROLE`, and is closed
/// when that server stops being the primary, so the pools and the subscriber move with it. It
/// subscribes to `+switch-master` on every sentinel, asks them (`SENTINEL
/// get-master-addr-by-name`) when it starts and whenever the data path meets `READONLY`,
/// `LOADING`, a refused connect or a lost connection, and reports failovers to metrics.
///
/// The decisions live in ``SentinelStateMachine``; this class locks it, then does what it says
/// after unlocking: questions, `ROLE` checks, timers, closing connections, waking callers.
///
/// - Important: Safe to use from any task. No I/O and no callback runs under the lock.
final class SentinelMonitor: RedisConnecting {
    typealias Machine = SentinelStateMachine<RedisConnection, Waiter>
    typealias Waiter = CheckedContinuation<SentinelPrimary, any Error>

    let configuration: RedisSentinelConfiguration
    private let state: Mutex<Machine>
    private let dataConnector: RedisConnector
    private let sentinelConnectors: [RedisConnector]
    private let subscribers: [RedisSubscriber]
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics = RedisFailoverMetrics()
    /// Holds `min_replicas` writes back while a sentinel runs a failover.
    let failoverGate = FailoverGate()
    private let tasks = TaskSet()
    private let started = Atomic<Bool>(false)
    private let waiterIDs = Atomic<Int>(0)
    private let listeners = Mutex<[@Sendable () -> Void]>([])
    /// Sentinels already warned about (misconfiguration, refused login), so a retry every
    /// 500 ms does not repeat the warning; cleared once a primary is found.
    private let warned = Mutex<Set<Int>>([])
    /// Data servers whose refusal (``isRefusal(_:)``) was logged, with the refusal.
    private let warnedServers = Mutex<Set<String>>([])

    /// - Parameter data: the login, database, TLS and timeouts of the data connections; its
    ///   URL's host and port are not used.
    init(configuration: RedisSentinelConfiguration, data: RedisClientConfiguration, group: any EventLoopGroup, logger: Logger) throws {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        let sslContext = data.url.usesTLS ? try NIOSSLContext(configuration: data.tls) : nil
        dataConnector = RedisConnector(configuration: data, sslContext: sslContext)
        sentinelConnectors = configuration.sentinels.map { sentinel in
            var sentinelData = data
            sentinelData.url = RedisURL(
                host: sentinel.host, port: sentinel.port, user: configuration.user, password: configuration.password, usesTLS: data.url.usesTLS)
            // Sentinels speak RESP2 to everyone; pub/sub messages then arrive as arrays.
            sentinelData.protocolVersion = .resp2
            return RedisConnector(configuration: sentinelData, sslContext: sslContext)
        }
        state = Mutex(Machine(sentinelCount: configuration.sentinels.count))
        var subscribers: [RedisSubscriber] = []
        let master = configuration.masterName
        // `self` is not yet available to the subscribers' callbacks: they reach it through a box.
        let box = WeakBox()
        let channels = [SentinelReplies.switchMasterChannel, SentinelReplies.tryFailoverChannel] + SentinelReplies.failoverAbortChannels
        for (index, connector) in sentinelConnectors.enumerated() {
            subscribers.append(RedisSubscriber(
                connector: connector, channels: channels, group: group, logger: logger,
                onSubscribed: { confirmations in if confirmations > 1 { box.monitor?.subscriptionRestored() } },
                onMessage: { channel, payload in
                    switch channel {
                    case SentinelReplies.switchMasterChannel:
                        if let endpoint = SentinelReplies.switchedPrimary(payload, master: master) { box.monitor?.switchAnnounced(to: endpoint) }
                    case SentinelReplies.tryFailoverChannel:
                        if SentinelReplies.isAboutMaster(payload, master: master) { box.monitor?.failoverStarted(by: index) }
                    default:
                        if SentinelReplies.isAboutMaster(payload, master: master) { box.monitor?.failoverGate.aborted(by: index) }
                    }
                }))
        }
        self.subscribers = subscribers
        box.monitor = self
    }

    var label: String { "sentinel master \(configuration.masterName)" }

    /// The primary in use, if any (for logs and tests).
    var primary: RedisEndpoint? { state.withLock { $0.primary?.endpoint } }

    /// Calls `listener` whenever a new primary is in use (after its predecessor's connections
    /// were closed), so pools and subscribers waiting out a backoff connect now.
    func onPrimaryChange(_ listener: @escaping @Sendable () -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    /// Subscribes to the sentinels and starts the first round; later calls do nothing.
    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for subscriber in subscribers { subscriber.start() }
        perform(state.withLock { $0.start(now: .now) })
    }

    // MARK: Connecting to the primary

    func connect(on eventLoop: any EventLoop) async throws -> RedisConnection {
        start()
        let primary = try await lease()
        let generation = primary.generation
        let connection: RedisConnection
        do {
            connection = try await dataConnector.connect(
                on: eventLoop, to: primary.endpoint, checkingRole: true,
                errorObserver: { [weak self] message in self?.serverSaid(message, generation: generation) })
        } catch let error as RedisClientError {
            switch error {
            case .notPrimary: report(.notPrimary, generation: generation)
            case .connectTimeout, .connectFailed, .connectionFailed, .connectionClosed, .commandTimeout: report(.unreachable, generation: generation)
            default: break  // a refused login or database: configuration, not topology
            }
            throw error
        }
        guard state.withLock({ $0.opened(connection, generation: generation) }) else {
            await connection.close()
            throw RedisClientError.primaryChanged
        }
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            self.perform(self.state.withLock { $0.closed(connection, now: .now) })
        }
        return connection
    }

    private func lease() async throws -> SentinelPrimary {
        let id = waiterIDs.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await withCheckedThrowingContinuation { (waiter: Waiter) in
            switch state.withLock({ $0.lease(waiter, id: id, now: .now) }) {
            case .use(let primary):
                waiter.resume(returning: primary)
            case .fail(let error):
                waiter.resume(throwing: error)
            case .wait(let actions):
                perform(actions)
                let timeout = TimeAmount(dataConnector.configuration.connectTimeout)
                group.any().scheduleTask(in: timeout) { [weak self] in
                    guard let waiter = self?.state.withLock({ $0.waiterTimedOut(id: id) }) else { return }
                    waiter.resume(throwing: RedisClientError.noPrimary("the sentinels did not name a primary within the connect timeout"))
                }
            }
        }
    }

    /// An error reply on a data connection: `READONLY` and `MASTERDOWN` mean a replica,
    /// `LOADING` a server not serving yet.
    private func serverSaid(_ message: ByteBuffer, generation: Int) {
        guard let problem = SentinelReplies.serverProblem(message) else { return }
        report(problem == .loading ? .loading : .notPrimary, generation: generation)
    }

    private func report(_ problem: Machine.Problem, generation: Int) {
        perform(state.withLock { $0.problem(problem, generation: generation, now: .now) })
    }

    // MARK: Sentinel events

    private func switchAnnounced(to endpoint: RedisEndpoint) {
        let actions = state.withLock { $0.switchAnnounced(to: endpoint, now: .now) }
        failoverGate.switched(primaryChanged: !actions.isEmpty)
        // Every sentinel announces it: only the first, which changes something, is news.
        if !actions.isEmpty {
            logger.info("sentinel announced a new primary", metadata: ["master": "\(configuration.masterName)", "primary": "\(endpoint)"])
        }
        perform(actions)
    }

    /// A sentinel starts a failover of the master: `min_replicas` writes are held back (503)
    /// until the switch (``FailoverGate``).
    private func failoverStarted(by sentinel: Int) {
        failoverGate.started(by: sentinel, now: .now)
        logger.notice(
            "sentinel started a failover: logins, logouts and revocations get 503 until the new primary is announced",
            metadata: ["master": "\(configuration.masterName)", "sentinel": "\(configuration.sentinels[sentinel])"])
    }

    private func subscriptionRestored() {
        perform(state.withLock { $0.subscriptionRestored(now: .now) })
    }

    // MARK: Carrying out the state machine's actions

    private func perform(_ actions: [Machine.Action]) {
        for action in actions {
            switch action {
            case .ask(let sentinel, let token):
                tasks.spawn { await self.ask(sentinel, token: token) }
            case .verify(let endpoint, let token):
                tasks.spawn { await self.verify(endpoint, token: token) }
            case .retry(let delay):
                group.any().scheduleTask(in: TimeAmount(delay)) { [weak self] in
                    guard let self else { return }
                    self.perform(self.state.withLock { $0.retryDue(now: .now) })
                }
            case .close(let connections):
                for connection in connections { connection.closeSoon() }
            case .use(let primary):
                warned.withLock { $0 = [] }
                metrics.primaryInUse(true)
                logger.info("redis primary in use", metadata: ["master": "\(configuration.masterName)", "primary": "\(primary.endpoint)"])
                for listener in listeners.withLock({ $0 }) { listener() }
            case .resume(let waiters, let primary):
                for waiter in waiters { waiter.resume(returning: primary) }
            case .fail(let waiters, let error):
                for waiter in waiters { waiter.resume(throwing: error) }
            case .failover(let from, let to):
                metrics.failovers.increment()
                logger.warning("redis failover: the primary changed", metadata: [
                    "master": "\(configuration.masterName)", "from": "\(from)", "to": "\(to)",
                ])
            case .lost(let endpoint, let problem):
                metrics.primaryInUse(false)
                logger.warning("redis primary dropped; requests that need the store get 503 until a primary is confirmed", metadata: [
                    "master": "\(configuration.masterName)", "primary": "\(endpoint)", "reason": "\(problem.rawValue)",
                ])
            case .outageEnded(let duration):
                metrics.unavailable.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
                logger.info("redis primary available again", metadata: ["master": "\(configuration.masterName)", "without_primary": "\(duration)"])
            }
        }
    }

    /// `SENTINEL get-master-addr-by-name` to one sentinel, on a connection of its own.
    private func ask(_ sentinel: Int, token: Int) async {
        var answer: SentinelReplies.MasterAddress = .unreadable
        do {
            let connection = try await sentinelConnectors[sentinel].connect(on: group.next())
            var command = RESPCommandBuilder(argumentCount: 3)
            command.append("SENTINEL")
            command.append("get-master-addr-by-name")
            command.append(configuration.masterName)
            let reply = try await connection.send(command.buffer)
            connection.closeSoon()
            answer = SentinelReplies.masterAddress(reply)
            if let message = reply.errorMessage { warnOnce(sentinel, "sentinel refused the question", ["error": "\(message)"]) }
        } catch {
            if case .authenticationFailed = error as? RedisClientError {
                warnOnce(sentinel, "sentinel refused the login", ["error": "\(error)"])
            } else {
                logger.debug("sentinel unreachable", metadata: ["sentinel": "\(configuration.sentinels[sentinel])", "error": "\(error)"])
            }
        }
        let actions = state.withLock { machine in
            switch answer {
            case .address(let endpoint): return machine.sentinelAnswered(sentinel, token: token, primary: endpoint, now: .now)
            case .unknownMaster: return machine.sentinelAnswered(sentinel, token: token, primary: nil, now: .now)
            case .unreadable: return machine.sentinelFailed(sentinel, token: token, now: .now)
            }
        }
        if answer == .unknownMaster {
            warnOnce(sentinel, "sentinel does not monitor this master", [:])
        }
        perform(actions)
    }

    /// Connects to `endpoint` as a data connection would, `ROLE` included, then closes.
    private func verify(_ endpoint: RedisEndpoint, token: Int) async {
        let result: Machine.RoleCheck
        do {
            let connection = try await dataConnector.connect(on: group.next(), to: endpoint, checkingRole: true)
            connection.closeSoon()
            result = .primary
        } catch RedisClientError.notPrimary(let role) {
            logger.debug("not the primary", metadata: ["server": "\(endpoint)", "role": "\(role)"])
            result = .notPrimary
        } catch {
            logger.debug("primary candidate unreachable", metadata: ["server": "\(endpoint)", "error": "\(error)"])
            // A refused login or database is no failover: said at once, with the server's words
            // (found by an audit: a wrong data-server password read only as "no primary").
            if Self.isRefusal(error), warnedServers.withLock({ $0.insert("\(endpoint) \(error)").inserted }) {
                logger.warning(
                    "the primary the sentinels name refused this proxy: check session.store.redis's username, password and db",
                    metadata: ["server": "\(endpoint)", "error": "\(error)"])
            }
            result = .unreachable
        }
        perform(state.withLock { $0.roleChecked(endpoint, token: token, result: result, now: .now) })
    }

    /// An error that names this proxy's login or database, not the server's state: `AUTH` or
    /// `SELECT` refused, or an ACL without `ROLE` (`NOPERM`).
    static func isRefusal(_ error: any Error) -> Bool {
        switch error as? RedisClientError {
        case .authenticationFailed?, .selectFailed?: return true
        case .serverError(let message)?: return message.hasPrefix("NOPERM") || message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS")
        default: return false
        }
    }

    private func warnOnce(_ sentinel: Int, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        guard warned.withLock({ $0.insert(sentinel).inserted }) else { return }
        logger.warning(message, metadata: metadata.merging([
            "sentinel": "\(configuration.sentinels[sentinel])", "master": "\(configuration.masterName)",
        ]) { $1 })
    }

    // MARK: Shutting down

    /// Stops following the primary: callers waiting fail, connections opened later are refused.
    /// Call before closing the pools, so their closing connections are not reported as lost.
    func shutDown() {
        let waiters = state.withLock { $0.shutDown() }
        for waiter in waiters { waiter.resume(throwing: RedisClientError.shutDown) }
    }

    /// ``shutDown()``, then closes the sentinel subscriptions and waits for questions and checks
    /// under way.
    func close() async {
        shutDown()
        for subscriber in subscribers { await subscriber.close() }
        await tasks.drain()
    }
}

/// Lets callbacks made before `self` existed reach it later, without keeping it alive.
private final class WeakBox: @unchecked Sendable {
    // Written once in the monitor's initializer, before any callback can run; read after.
    weak var monitor: SentinelMonitor?
}
