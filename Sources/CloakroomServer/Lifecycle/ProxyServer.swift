import CloakroomConfig
import CloakroomLogin
import CloakroomProxy
import CloakroomRedis
import CloakroomSessions
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

import struct Foundation.Date

/// The running proxy: listeners, the admin listener, the session store and its sweeper,
/// upstream pools, the watch that ends tunnels with their sessions.
///
/// As a swift-service-lifecycle `Service`, ``run()`` serves until graceful shutdown (reloading
/// on SIGHUP), then stops accepting, lets in-flight requests finish for up to
/// `shutdown_timeout`, closes what is left, flushes the store and returns. Tests use
/// ``start()``, ``reload()`` and ``shutdown()`` directly.
public final class ProxyServer: Service, Sendable {
    public let store: any SessionStore
    let holder: RuntimeHolder
    let factory: RuntimeFactory
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    let connections = ConnectionRegistry()
    /// Re-reads `proxy.yaml` for a reload; `nil` when the server was given a configuration only.
    let configurationSource: (@Sendable () throws -> Configuration)?
    let state = Mutex(RunState())

    struct RunState {
        var quiescing: ListenerQuiescing?
        /// Bound public listeners by their address as written.
        var listeners: [SocketAddressSpec: any Channel] = [:]
        var admin: (any Channel)?
        var tasks: [Task<Void, Never>] = []
        /// The sweeper, apart from ``tasks``: a reload that changes its interval replaces it.
        var sweeper: (task: Task<Void, Never>, every: Duration)?
        /// The last reload asked for: the next one waits for it (``reload()``).
        var lastReload: Task<ReloadOutcome, Never>?
    }

    /// What ``ProxyServer`` reports beyond its logs.
    public struct Observability: Sendable {
        /// One JSON line per request, or `nil` for none.
        public var accessLog: Logger?
        /// Renders `/metrics` (Prometheus text); `nil` answers an empty exposition.
        public var renderMetrics: (@Sendable () -> String)?
        /// One JSON line per session created or ended, or `nil` for none.
        public var auditLog: SessionAuditLog?

        public init(accessLog: Logger? = nil, renderMetrics: (@Sendable () -> String)? = nil, auditLog: SessionAuditLog? = nil) {
            self.accessLog = accessLog
            self.renderMetrics = renderMetrics
            self.auditLog = auditLog
        }
    }

    /// The configuration in force (the last one loaded successfully).
    public var configuration: Configuration { holder.current.configuration }

    /// Opens the configured session store, then builds the server.
    ///
    /// - Parameter configurationSource: re-reads the configuration on SIGHUP and `POST /reload`.
    public static func open(
        configuration: Configuration, logger: Logger, observability: Observability = .init(),
        clock: any WallClock = SystemWallClock(), threads: Int = System.coreCount,
        configurationSource: (@Sendable () throws -> Configuration)? = nil
    ) async throws -> ProxyServer {
        try validate(configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let store: any SessionStore
        do {
            store = try await SessionStoreFactory.open(configuration.session, clock: clock, eventLoopGroup: group, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        do {
            return try ProxyServer(
                configuration: configuration, store: store, logger: logger, observability: observability, clock: clock,
                group: group, configurationSource: configurationSource)
        } catch {
            try? await store.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Checks what the configuration loader cannot: TLS certificates and keys (listeners' and
    /// upstreams', CA bundles included) load and match,
    /// the users file reads, the Redis URL is well formed. Throws ``ServerStartError`` naming
    /// every key with a problem, one per line. Connects to nothing.
    public static func validate(_ configuration: Configuration) throws {
        let problems = problems(in: configuration)
        if !problems.isEmpty { throw ServerStartError.unsupported(problems.joined(separator: "\n")) }
    }

    /// Every problem ``validate(_:)`` finds, each `key.path: message`, in file order.
    public static func problems(in configuration: Configuration) -> [String] {
        var problems: [String] = []
        for (index, listener) in configuration.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            problems += TLSContexts.problems(tls, path: "listen[\(index)].tls")
        }
        problems += UpstreamTLSContexts.problems(in: configuration.upstreams)
        if case .redis(let redis) = configuration.session.store {
            do { _ = try RedisURL(parsing: redis.url) } catch { problems.append("session.store.redis.url: \(error)") }
        }
        problems += AssertionKeys.problems(in: configuration)
        if let path = configuration.login.usersFile {
            problems += UsersFile.problems(at: path).map { "login.users_file: \($0)" }
        }
        return problems
    }

    /// What is valid but will not work as meant, each `key.path: message`: certificates out of
    /// their validity period (``CertificateValidity``). `check` prints them and still passes;
    /// start-up and reloads log them.
    public static func warnings(in configuration: Configuration, now: Date = Date()) -> [String] {
        CertificateValidity.warnings(in: configuration, now: now)
    }

    /// Builds the compiled policy around an open store. Throws ``ServerStartError`` for
    /// settings this build cannot serve.
    public convenience init(
        configuration: Configuration, store: any SessionStore, logger: Logger, observability: Observability = .init(),
        clock: any WallClock = SystemWallClock(), threads: Int = System.coreCount,
        configurationSource: (@Sendable () throws -> Configuration)? = nil
    ) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            try self.init(
                configuration: configuration, store: store, logger: logger, observability: observability, clock: clock,
                group: group, configurationSource: configurationSource)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// - Parameter group: the event loops, owned by the server from here on.
    init(
        configuration: Configuration, store: any SessionStore, logger: Logger, observability: Observability,
        clock: any WallClock, group: MultiThreadedEventLoopGroup, configurationSource: (@Sendable () throws -> Configuration)?
    ) throws {
        self.logger = logger
        self.store = store
        self.configurationSource = configurationSource
        if configuration.session.secrets.isEmpty {
            logger.warning("session.secrets not set: signing cookies with a random key made at start; sessions end when the process restarts")
        }
        if let assertion = configuration.identity.assertion, assertion.signingKeys.isEmpty {
            logger.warning("identity.assertion.signing_keys not set: signing assertions with a key made at start; it changes when the process restarts")
        }
        let loops = Array(group.makeIterator())
        let factory = RuntimeFactory(
            store: store, logger: logger, observability: observability, clock: clock, eventLoops: loops,
            watch: SessionWatch(eventLoops: loops), fallbackSecret: SessionCookieCodec.randomSecret(),
            reload: ReloadHook(isAvailable: configurationSource != nil))
        holder = RuntimeHolder(try factory.make(configuration))
        self.group = group
        self.factory = factory
        observability.auditLog?.attach(to: store)
        factory.reload.bind { [weak self] in await self?.reload() ?? .refused(["reload: the server has stopped"]) }
    }

    /// Binds every listener, then the admin listener. Returns the bound proxy addresses, in
    /// `listen` order (see ``adminAddress`` for the admin one).
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        let quiescing = ListenerQuiescing(group: group)
        let runtime = holder.current
        try await runtime.prepare()
        var listeners: [SocketAddressSpec: any Channel] = [:]
        var admin: (any Channel)?
        do {
            listeners = try await bind(
                runtime.configuration.listeners.enumerated().map { ($0.offset, $0.element.address) }, quiescing: quiescing)
            if let settings = runtime.configuration.admin {
                do {
                    admin = try await AdminBootstrap.make(group: group, runtime: holder)
                        .bind(host: settings.listen.host, port: settings.listen.port).get()
                } catch {
                    // Named like a public listener's failure (found by an audit: a bare bind
                    // error, naming neither the address nor the key).
                    throw ServerStartError.unsupported(
                        "admin.listen: cannot listen on \(settings.listen): \(ErrorText.describe(error))")
                }
                logger.info("admin API listening", metadata: ["address": "\(admin?.localAddress.map(Self.describe) ?? "?")"])
            }
        } catch {
            for channel in listeners.values { try? await channel.close() }
            throw error
        }
        let sweepEvery = SessionStoreFactory.sweepInterval(runtime.configuration.session)
        let sweeper = Self.startSweeper(store: store, every: sweepEvery, after: nil, logger: logger)
        let watcher = runtime.watch.start(store: store, logger: logger)
        // The access and audit logs are buffered (one write per many lines); under journald or
        // `docker logs` lines must still show up promptly.
        let logFlusher = Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                JSONLinesLogHandler.flush()
            }
        }
        state.withLock {
            $0.quiescing = quiescing
            $0.listeners = listeners
            $0.admin = admin
            $0.sweeper = (sweeper, sweepEvery)
            $0.tasks = [watcher, logFlusher]
        }
        return runtime.configuration.listeners.compactMap { listeners[$0.address]?.localAddress }
    }

    /// Binds public listeners, each with its index in `listen`; on failure closes the ones it
    /// bound and throws naming the entry (`listen[1].address: cannot listen on ...`).
    func bind(_ listeners: [(index: Int, address: SocketAddressSpec)], quiescing: ListenerQuiescing) async throws
        -> [SocketAddressSpec: any Channel]
    {
        var bound: [SocketAddressSpec: any Channel] = [:]
        var binding = listeners.first
        do {
            for listener in listeners where bound[listener.address] == nil {
                binding = listener
                let address = listener.address
                let channel = try await ProxyBootstrap.make(
                    group: group, quiescing: quiescing, runtime: holder, address: address, connections: connections
                ).bind(host: address.host, port: address.port).get()
                bound[address] = channel
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map(Self.describe) ?? "?")"])
            }
        } catch {
            for channel in bound.values { try? await channel.close() }
            let entry = binding.map { "listen[\($0.index)].address: cannot listen on \($0.address)" } ?? "listen: cannot listen"
            throw ServerStartError.unsupported("\(entry): \(ErrorText.describe(error))")
        }
        return bound
    }

    /// The admin listener's address once started, if there is one.
    public var adminAddress: SocketAddress? { state.withLock { $0.admin?.localAddress } }

    /// The bound address of each public listener, in `listen` order.
    public var listenerAddresses: [SocketAddress] {
        let listeners = state.withLock { $0.listeners }
        return configuration.listeners.compactMap { listeners[$0.address]?.localAddress }
    }

    /// Stops accepting, lets in-flight requests finish (idle keep-alive connections close at
    /// once, tunnels get a close frame) for up to `shutdown_timeout`, closes what is left,
    /// flushes and closes the store, then releases the event loops.
    public func shutdown() async {
        let admin = state.withLock { state -> (any Channel)? in
            defer { state.admin = nil }
            return state.admin
        }
        try? await admin?.close()
        let tasks = state.withLock { $0.tasks }
        await quiesce(timeout: configuration.shutdownTimeout)
        await factory.signOnClients.shutdown()
        // The sweeper and the watch use the event loops: they must be done before those stop.
        for task in tasks { await task.value }
        await state.withLock { $0.sweeper?.task }?.value  // after quiesce: no reload replaces it any more
        holder.current.upstreams.closeIdle(on: factory.eventLoops)
        do {
            try await store.close()
        } catch {
            logger.error("closing the session store failed", metadata: ["error": "\(error)"])
        }
        JSONLinesLogHandler.flush(waitingAtMost: .seconds(5))
        try? await group.shutdownGracefully()
    }

    public func run() async throws {
        try await start()
        let reloads = Task { [self] in
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                logger.info("SIGHUP: reloading the configuration")
                _ = await reload()
            }
        }
        try? await gracefulShutdown()
        reloads.cancel()
        logger.info("shutting down: finishing in-flight requests", metadata: ["shutdown_timeout": "\(configuration.shutdownTimeout)"])
        await shutdown()
    }

    /// Stops the listeners and waits until every client connection has finished its request
    /// and closed, or `timeout` passed, in which case the rest are closed. The quiescing helper
    /// is released here, while the event loops still run: its deinit completes a promise on them.
    private func quiesce(timeout: Duration) async {
        let quiescing = state.withLock { state -> ListenerQuiescing? in
            for task in state.tasks { task.cancel() }
            state.sweeper?.task.cancel()
            state.listeners = [:]
            defer { state.quiescing = nil }
            return state.quiescing
        }
        guard let quiescing else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: promise)
        let deadline = group.next().scheduleTask(in: timeout.timeAmount) { [connections, logger] in
            let open = connections.closeAll()
            if open > 0 { logger.warning("shutdown_timeout passed: closing connections still open", metadata: ["count": "\(open)"]) }
        }
        try? await promise.futureResult.get()
        deadline.cancel()
    }

    /// New session timeouts from a reload, and the sweeper's pace with them
    /// (``SessionStoreFactory/sweepInterval(_:)``: a shorter `session.idle_timeout` is swept at
    /// its own pace from now on, not after the old interval, up to a minute).
    ///
    /// A longer timeout must not bring back a session that already ended under the old one and
    /// that no request or sweep has removed yet (found by an audit: a reload from 3s to 30m let
    /// a session idle for 3.4 s through). So the sweeper is stopped, one sweep removes what the
    /// old timeouts ended, then the new ones apply and the sweeper starts again. Once shutdown
    /// has begun only the timeouts change.
    func changeTimeouts(from old: SessionTimeouts, to new: SessionTimeouts, sweepingEvery interval: Duration) async {
        let lengthened = new.idle > old.idle || new.absolute > old.absolute
        let stopped = state.withLock { state -> Task<Void, Never>? in
            guard state.quiescing != nil, let sweeper = state.sweeper, lengthened || sweeper.every != interval else { return nil }
            sweeper.task.cancel()
            return sweeper.task
        }
        guard let stopped else { return store.updateTimeouts(new) }
        await stopped.value  // never two sweeps at once
        if lengthened {
            do {
                let swept = try await store.sweep()
                if swept > 0 { logger.debug("expired sessions swept before longer timeouts", metadata: ["count": "\(swept)"]) }
            } catch {
                logger.error("session sweep failed", metadata: ["error": "\(error)"])
            }
        }
        store.updateTimeouts(new)
        state.withLock { state in
            guard state.quiescing != nil else { return }
            state.sweeper = (Self.startSweeper(store: store, every: interval, after: nil, logger: logger), interval)
        }
    }

    /// Sweeps every `interval` until cancelled; starts once `previous` (a sweeper it replaces,
    /// cancelled) has finished, so two sweeps never run at once.
    private static func startSweeper(
        store: any SessionStore, every interval: Duration, after previous: Task<Void, Never>?, logger: Logger
    ) -> Task<Void, Never> {
        Task.detached {
            await previous?.value
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return  // cancelled: shutdown, or replaced by a reload
                }
                do {
                    let swept = try await store.sweep()
                    if swept > 0 { logger.debug("expired sessions swept", metadata: ["count": "\(swept)"]) }
                } catch {
                    logger.error("session sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A configuration this build cannot serve, or a store that cannot be opened; the message
/// names the key.
public enum ServerStartError: Error, CustomStringConvertible {
    case unsupported(String)
    public var description: String {
        switch self {
        case .unsupported(let message): return message
        }
    }
}
