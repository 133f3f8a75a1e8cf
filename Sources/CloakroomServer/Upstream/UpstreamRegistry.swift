import CloakroomConfig
import NIOCore
import NIOSSL

/// One ``UpstreamPool`` per upstream (each serves every event loop), built up front so lookups
/// need no lock. Pools belong to an upstream: two upstreams never share a connection, even to
/// the same target (their TLS settings and `Host` may differ).
struct UpstreamRegistry: Sendable {
    private let pools: [String: UpstreamPool]
    /// Upstreams configured as `builtin: echo`.
    let echo: Set<String>

    /// - Parameter tls: the client context of each upstream with https targets
    ///   (``UpstreamTLSContexts``), by name.
    init(configuration: Configuration, tls: [String: NIOSSLContext] = [:]) {
        var echo: Set<String> = []
        var pools: [String: UpstreamPool] = [:]
        for (name, upstream) in configuration.upstreams {
            switch upstream.kind {
            case .echo: echo.insert(name)
            case .targets(let targets): pools[name] = UpstreamPool(
                    targets: UpstreamTargets(name: name, targets: targets, settings: upstream, tls: tls[name]))
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
