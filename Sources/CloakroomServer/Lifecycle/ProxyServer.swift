import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The running proxy: listeners, the session store and its sweeper, upstream pools.
///
/// As a swift-service-lifecycle `Service`, ``run()`` serves until graceful shutdown, then stops
/// accepting, lets in-flight requests finish and returns. Tests use ``start()`` and
/// ``shutdown()`` directly to learn the ports bound for `:0`.
public final class ProxyServer: Service, Sendable {
    public let configuration: Configuration
    public let store: any SessionStore
    let runtime: ProxyRuntime
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let state = Mutex(RunState())

    struct RunState {
        var channels: [any Channel] = []
        var quiescing: ServerQuiescingHelper?
        var sweeper: Task<Void, Never>?
    }

    /// Builds the store and the compiled policy. Throws ``ServerStartError`` for settings this
    /// build cannot serve.
    public init(configuration: Configuration, logger: Logger, clock: any WallClock = SystemWallClock(), threads: Int = System.coreCount) throws {
        self.configuration = configuration
        self.logger = logger
        let session = configuration.session
        let timeouts = SessionTimeouts(idle: session.idleTimeout, absolute: session.absoluteTimeout, touchInterval: session.touchInterval)
        switch session.store {
        case .memory(let settings):
            store = MemorySessionStore(maxSessions: settings.maxSessions, timeouts: timeouts, clock: clock)
        case .file:
            throw ServerStartError.unsupported("session.store.file: the file store is not available in this build yet")
        case .redis:
            throw ServerStartError.unsupported("session.store.redis: the Redis store is not available in this build yet")
        }
        if configuration.admin != nil {
            throw ServerStartError.unsupported("admin: the admin API is not available in this build yet")
        }
        if let index = configuration.listeners.firstIndex(where: { $0.tls != nil }) {
            throw ServerStartError.unsupported("listen[\(index)].tls: TLS listeners are not available in this build yet")
        }
        var secrets = session.secrets.map { Array($0.utf8) }
        if secrets.isEmpty {
            secrets = [SessionCookieCodec.randomSecret()]
            logger.warning("session.secrets not set: signing cookies with a random key made at start; sessions end when the process restarts")
        }
        let policy = ProxyPolicy(configuration: configuration, store: store, codec: SessionCookieCodec(secrets: secrets), logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        runtime = ProxyRuntime(
            policy: policy,
            upstreams: UpstreamRegistry(configuration: configuration, eventLoops: Array(group.makeIterator())),
            limits: configuration.client, logger: logger)
    }

    /// Binds every listener. Returns the bound addresses, in `listen` order.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        let quiescing = ServerQuiescingHelper(group: group)
        var channels: [any Channel] = []
        do {
            for listener in configuration.listeners {
                let channel = try await bootstrap(quiescing: quiescing, isSecure: false)
                    .bind(host: listener.address.host, port: listener.address.port).get()
                channels.append(channel)
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map(Self.describe) ?? "?")"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        let store = self.store
        let logger = self.logger
        let interval = min(configuration.session.touchInterval, .seconds(60))
        let sweeper = Task.detached {
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
        state.withLock {
            $0.channels = channels
            $0.quiescing = quiescing
            $0.sweeper = sweeper
        }
        return channels.compactMap(\.localAddress)
    }

    /// Stops accepting, lets in-flight requests finish (idle keep-alive connections close at
    /// once), then releases the event loops.
    public func shutdown() async {
        await quiesce()
        runtime.upstreams.closeIdle()
        try? await group.shutdownGracefully()
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

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        logger.info("shutting down: finishing in-flight requests")
        await shutdown()
    }

    private func bootstrap(quiescing: ServerQuiescingHelper, isSecure: Bool) -> ServerBootstrap {
        let runtime = self.runtime
        let limits = configuration.client
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var decoderLimits = NIOHTTPDecoderLimitConfiguration()
                    decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
                    decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ClientTimeoutHandler(headerTimeout: limits.headerTimeout.timeAmount, idleTimeout: limits.idleTimeout.timeAmount))
                    // No outbound header validation: response fields were parsed by llhttp or built
                    // from swift-http-types values, which refuse CR/LF/NUL.
                    try sync.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: false, withOutboundHeaderValidation: false,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    let client = ClientInfo(address: channel.remoteAddress?.ipAddress ?? "unknown", isSecure: isSecure)
                    try sync.addHandler(HTTP1ProxyHandler(runtime: runtime, client: client))
                }
            }
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A configuration this build cannot serve; the message names the key.
public enum ServerStartError: Error, CustomStringConvertible {
    case unsupported(String)
    public var description: String {
        switch self {
        case .unsupported(let message): return message
        }
    }
}
