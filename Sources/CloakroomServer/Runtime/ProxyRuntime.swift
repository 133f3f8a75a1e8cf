import CloakroomConfig
import CloakroomProxy
import CloakroomRedis
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Everything a connection handler needs, built once per configuration and shared by every
/// connection on every event loop. A reload builds a new one and swaps it in whole.
///
/// A class, immutable: each exchange holds the runtime it started under, and a reference costs
/// one retain where a copy of the struct (its configuration included) cost dozens.
final class ProxyRuntime: Sendable {
    let configuration: Configuration
    let policy: ProxyPolicy
    let upstreams: UpstreamRegistry
    let logger: Logger
    /// One JSON line per request, or `nil`.
    let accessLog: Logger?
    let metrics: RequestMetrics
    /// The TLS context of each TLS listener, by its address as written.
    let tls: [SocketAddressSpec: NIOSSLContext]
    let adminAPI: AdminAPI?
    /// Open tunnels and long-lived responses by session; the same one across reloads.
    let watch: SessionWatch
    /// The store's event-loop lookup (Redis), found once rather than cast per request.
    let eventLoopLookup: (any EventLoopSessionLookup)?

    /// `client.*`, read per request and connection.
    let limits: ClientLimits
    var shutdownTimeout: Duration { configuration.shutdownTimeout }
    /// Counts and logs every exchange once (``metrics`` and ``accessLog``).
    let recorder: ExchangeRecorder

    init(
        configuration: Configuration, policy: ProxyPolicy, upstreams: UpstreamRegistry, logger: Logger, accessLog: Logger?,
        metrics: RequestMetrics, tls: [SocketAddressSpec: NIOSSLContext], adminAPI: AdminAPI?, watch: SessionWatch,
        eventLoopLookup: (any EventLoopSessionLookup)?
    ) {
        self.configuration = configuration
        self.policy = policy
        self.upstreams = upstreams
        self.logger = logger
        self.accessLog = accessLog
        self.metrics = metrics
        self.tls = tls
        self.adminAPI = adminAPI
        self.watch = watch
        self.eventLoopLookup = eventLoopLookup
        self.limits = configuration.client
        self.recorder = ExchangeRecorder(metrics: metrics, accessLog: accessLog)
    }
}

/// The runtime in force. Connections read it when a request starts, so a reload applies to the
/// next request on every connection, and a request in flight finishes under the runtime it
/// started with.
///
/// Handlers keep their own reference and compare ``generation`` (one relaxed atomic load) at
/// each request head, so the shared lock is only taken after a reload.
final class RuntimeHolder: Sendable {
    private let box: Mutex<ProxyRuntime>
    private let counter = Atomic<Int>(0)

    init(_ runtime: ProxyRuntime) { box = Mutex(runtime) }

    var current: ProxyRuntime { box.withLock { $0 } }
    var generation: Int { counter.load(ordering: .acquiring) }

    /// Swaps in `runtime`; returns the one it replaced.
    func replace(with runtime: ProxyRuntime) -> ProxyRuntime {
        let old = box.withLock { current in
            let old = current
            current = runtime
            return old
        }
        counter.add(1, ordering: .releasing)
        return old
    }
}
