import CloakroomConfig
import CloakroomProxy
import CloakroomRedis
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Everything a connection handler needs, built once per configuration and shared by every
/// connection on every event loop. A reload builds a new one and swaps it in whole.
struct ProxyRuntime: Sendable {
    let configuration: Configuration
    let policy: ProxyPolicy
    let upstreams: UpstreamRegistry
    let logger: Logger
    /// One JSON line per request, or `nil`.
    let accessLog: Logger?
    let metrics: RequestMetrics
    /// Counts and logs every exchange once (metrics and the access log above).
    var recorder: ExchangeRecorder { ExchangeRecorder(metrics: metrics, accessLog: accessLog) }
    /// The TLS context of each TLS listener, by its address as written.
    let tls: [SocketAddressSpec: NIOSSLContext]
    let adminAPI: AdminAPI?
    /// Open tunnels and long-lived responses by session; the same one across reloads.
    let watch: SessionWatch
    /// The store's event-loop lookup (Redis), found once rather than cast per request.
    let eventLoopLookup: (any EventLoopSessionLookup)?

    var limits: ClientLimits { configuration.client }
    var shutdownTimeout: Duration { configuration.shutdownTimeout }
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

/// One ``UpstreamPool`` per upstream (each serves every event loop), built up front so lookups
/// need no lock.
struct UpstreamRegistry: Sendable {
    private let pools: [String: UpstreamPool]
    /// Upstreams configured as `builtin: echo`.
    let echo: Set<String>

    init(configuration: Configuration) {
        var echo: Set<String> = []
        var pools: [String: UpstreamPool] = [:]
        for (name, upstream) in configuration.upstreams {
            switch upstream.kind {
            case .echo: echo.insert(name)
            case .targets(let targets): pools[name] = UpstreamPool(targets: UpstreamTargets(name: name, targets: targets, settings: upstream))
            }
        }
        self.pools = pools
        self.echo = echo
    }

    func pool(upstream: String) -> UpstreamPool? { pools[upstream] }

    /// Closes idle pooled connections (at shutdown), each on its own loop.
    func closeIdle(on loops: [any EventLoop]) {
        for pool in pools.values { pool.closeIdle(on: loops) }
    }
}

/// Request IDs for one client connection (shared by the streams of an HTTP/2 connection): a
/// random prefix plus a counter, so generating one costs no system call and IDs stay unique
/// across connections and restarts.
///
/// - Important: Used only on its connection's event loop.
final class RequestIDGenerator {
    private let prefix: UInt64
    private var counter: UInt64 = 0

    init() {
        prefix = UInt64.random(in: .min ... .max)
    }

    /// 15 characters of the URL-safe base64 alphabet: 9 for 54 random bits fixed per
    /// connection, then 6 for a 36-bit counter. Fifteen bytes is what a Swift string holds
    /// inline: no allocation, and copies of the ID (exchange, header, log) are not counted.
    func next() -> String {
        counter &+= 1
        let prefix = self.prefix, counter = self.counter
        return String(unsafeUninitializedCapacity: 15) { buffer in
            let digits: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
            for i in 0..<9 {
                buffer[i] = digits.utf8Start[Int((prefix >> UInt64(6 * (8 - i))) & 0x3F)]
            }
            for i in 0..<6 {
                buffer[9 + i] = digits.utf8Start[Int((counter >> UInt64(6 * (5 - i))) & 0x3F)]
            }
            return 15
        }
    }
}
