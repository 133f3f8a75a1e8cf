import CloakroomConfig
import CloakroomLogin
import CloakroomProxy
import CloakroomSessions
import Logging
import Metrics
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The running proxy: listeners, the admin listener, the session store and its sweeper,
/// upstream pools.
///
/// As a swift-service-lifecycle `Service`, ``run()`` serves until graceful shutdown, then stops
/// accepting, lets in-flight requests finish, flushes the store and returns. Tests use
/// ``start()`` and ``shutdown()`` directly to learn the ports bound for `:0`.
public final class ProxyServer: Service, Sendable {
    public let configuration: Configuration
    public let store: any SessionStore
    let runtime: ProxyRuntime
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let adminAPI: AdminAPI?
    private let state = Mutex(RunState())

    struct RunState {
        var quiescing: ServerQuiescingHelper?
        var admin: (any Channel)?
        var sweeper: Task<Void, Never>?
    }

    /// What ``ProxyServer`` reports beyond its logs.
    public struct Observability: Sendable {
        /// One JSON line per request, or `nil` for none.
        public var accessLog: Logger?
        /// Renders `/metrics` (Prometheus text); `nil` answers an empty exposition.
        public var renderMetrics: (@Sendable () -> String)?

        public init(accessLog: Logger? = nil, renderMetrics: (@Sendable () -> String)? = nil) {
            self.accessLog = accessLog
            self.renderMetrics = renderMetrics
        }
    }

    /// Opens the configured session store, then builds the server.
    public static func open(
        configuration: Configuration, logger: Logger, observability: Observability = .init(),
        clock: any WallClock = SystemWallClock(), threads: Int = System.coreCount
    ) async throws -> ProxyServer {
        try Self.checkSupported(configuration)
        let store = try await SessionStoreFactory.open(configuration.session, clock: clock, logger: logger)
        do {
            return try ProxyServer(
                configuration: configuration, store: store, logger: logger, observability: observability, clock: clock, threads: threads)
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Builds the compiled policy around an open store. Throws ``ServerStartError`` for
    /// settings this build cannot serve.
    public init(
        configuration: Configuration, store: any SessionStore, logger: Logger, observability: Observability = .init(),
        clock: any WallClock = SystemWallClock(), threads: Int = System.coreCount
    ) throws {
        try Self.checkSupported(configuration)
        self.configuration = configuration
        self.logger = logger
        self.store = store
        let session = configuration.session
        var secrets = session.secrets.map { Array($0.utf8) }
        if secrets.isEmpty {
            secrets = [SessionCookieCodec.randomSecret()]
            logger.warning("session.secrets not set: signing cookies with a random key made at start; sessions end when the process restarts")
        }
        let users = try configuration.login.usersFile.map { path in
            do {
                return try UsersFile(path: path)
            } catch {
                throw ServerStartError.unsupported("login.users_file: \(error)")
            }
        }
        let policy = ProxyPolicy(
            configuration: configuration, store: store, codec: SessionCookieCodec(secrets: secrets), logger: logger,
            builtinLogin: { cookies in
                users.map {
                    BuiltinLogin(settings: configuration.login, users: $0, store: store, cookies: cookies, clock: clock, logger: logger)
                }
            })
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        runtime = ProxyRuntime(
            policy: policy,
            upstreams: UpstreamRegistry(configuration: configuration, eventLoops: Array(group.makeIterator())),
            limits: configuration.client, logger: logger, accessLog: observability.accessLog,
            metrics: RequestMetrics(upstreams: Array(configuration.upstreams.keys)))
        if let admin = configuration.admin {
            let render = observability.renderMetrics
            let active = Gauge(label: "cloakroom_sessions_active")
            adminAPI = AdminAPI(
                store: store, token: admin.token, cookies: policy.cookies, logger: logger,
                metrics: { [store] in
                    if let count = try? await store.liveCount() { active.record(count) }
                    return render?() ?? ""
                })
        } else {
            adminAPI = nil
        }
    }

    private static func checkSupported(_ configuration: Configuration) throws {
        if let index = configuration.listeners.firstIndex(where: { $0.tls != nil }) {
            throw ServerStartError.unsupported("listen[\(index)].tls: TLS listeners are not available in this build yet")
        }
    }

    /// Binds every listener, then the admin listener. Returns the bound proxy addresses, in
    /// `listen` order (see ``adminAddress`` for the admin one).
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        let quiescing = ServerQuiescingHelper(group: group)
        var channels: [any Channel] = []
        var admin: (any Channel)?
        do {
            for listener in configuration.listeners {
                let channel = try await ProxyBootstrap.make(group: group, quiescing: quiescing, runtime: runtime, isSecure: false)
                    .bind(host: listener.address.host, port: listener.address.port).get()
                channels.append(channel)
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map(Self.describe) ?? "?")"])
            }
            if let adminAPI, let settings = configuration.admin {
                admin = try await AdminBootstrap.make(group: group, api: adminAPI)
                    .bind(host: settings.listen.host, port: settings.listen.port).get()
                logger.info("admin API listening", metadata: ["address": "\(admin?.localAddress.map(Self.describe) ?? "?")"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        let sweeper = Self.startSweeper(store: store, every: min(configuration.session.touchInterval, .seconds(60)), logger: logger)
        state.withLock {
            $0.quiescing = quiescing
            $0.admin = admin
            $0.sweeper = sweeper
        }
        return channels.compactMap(\.localAddress)
    }

    /// The admin listener's address once started, if there is one.
    public var adminAddress: SocketAddress? { state.withLock { $0.admin?.localAddress } }

    /// Stops accepting, lets in-flight requests finish (idle keep-alive connections close at
    /// once), flushes and closes the store, then releases the event loops.
    public func shutdown() async {
        let admin = state.withLock { state -> (any Channel)? in
            defer { state.admin = nil }
            return state.admin
        }
        try? await admin?.close()
        await quiesce()
        runtime.upstreams.closeIdle()
        do {
            try await store.close()
        } catch {
            logger.error("closing the session store failed", metadata: ["error": "\(error)"])
        }
        JSONLinesLogHandler.flush()
        try? await group.shutdownGracefully()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        logger.info("shutting down: finishing in-flight requests")
        await shutdown()
    }

    /// Stops the listeners and waits until every client connection has finished its request
    /// and closed. The quiescing helper is released here, while the event loops still run: its
    /// deinit completes a promise on them.
    private func quiesce() async {
        let quiescing = state.withLock { state -> ServerQuiescingHelper? in
            state.sweeper?.cancel()
            defer { state.quiescing = nil }
            return state.quiescing
        }
        guard let quiescing else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: promise)
        try? await promise.futureResult.get()
    }

    private static func startSweeper(store: any SessionStore, every interval: Duration, logger: Logger) -> Task<Void, Never> {
        Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
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
