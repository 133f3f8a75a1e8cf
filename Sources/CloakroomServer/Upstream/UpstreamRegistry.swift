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

    /// - Parameters:
    ///   - tls: the client context of each upstream with https targets (``UpstreamTLSContexts``),
    ///     by name.
    ///   - previous: the registry a reload replaces. A plain-HTTP upstream whose settings did
    ///     not change keeps its pool, so `max_connections` still counts the connections of
    ///     exchanges begun before the reload, and its idle connections stay in use (found by an
    ///     audit: every reload allowed another `max_connections`). An https upstream gets a new
    ///     pool: its certificates were read again.
    init(configuration: Configuration, tls: [String: NIOSSLContext] = [:], previous: UpstreamRegistry? = nil) {
        var echo: Set<String> = []
        var pools: [String: UpstreamPool] = [:]
        for (name, upstream) in configuration.upstreams {
            switch upstream.kind {
            case .echo: echo.insert(name)
            case .targets(let targets):
                if let kept = previous?.pools[name], kept.targets.settings == upstream, !upstream.hasTLSTargets {
                    pools[name] = kept
                } else {
                    pools[name] = UpstreamPool(targets: UpstreamTargets(name: name, targets: targets, settings: upstream, tls: tls[name]))
                }
            }
        }
        self.pools = pools
        self.echo = echo
    }

    func pool(upstream: String) -> UpstreamPool? { pools[upstream] }

    /// After a reload to `successor`: the pools it did not keep take no connection back (each
    /// closes once its exchange ends) and close their idle ones now.
    func retire(replacedBy successor: UpstreamRegistry, on loops: [any EventLoop]) {
        for (name, pool) in pools where successor.pools[name] !== pool { pool.retire(on: loops) }
    }

    /// Closes idle pooled connections (at shutdown), each on its own loop.
    func closeIdle(on loops: [any EventLoop]) {
        for pool in pools.values { pool.closeIdle(on: loops) }
    }
}
