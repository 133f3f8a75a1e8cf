import CloakroomConfig
import NIOCore

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
