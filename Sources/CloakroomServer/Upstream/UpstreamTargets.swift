import CloakroomConfig
import NIOCore

/// One upstream's targets as configured, with their addresses resolved once at start (like
/// nginx without a `resolver`). What changes at run time (open connections, failures, the
/// round-robin position) is the pool's (``UpstreamPoolStateMachine``).
struct UpstreamTargets: Sendable {
    let name: String
    let targets: [UpstreamTarget]
    let settings: Upstream
    /// Each target's address; `nil` when resolution failed at start, in which case each
    /// connect resolves again.
    let addresses: [SocketAddress?]
    /// How long a target that failed to connect is tried after the others.
    static let failurePenalty = TimeAmount.seconds(5)

    init(name: String, targets: [UpstreamTarget], settings: Upstream) {
        self.name = name
        self.targets = targets
        self.settings = settings
        self.addresses = targets.map { target in
            (try? SocketAddress(ipAddress: target.host, port: target.port))
                ?? (try? SocketAddress.makeAddressResolvingHost(target.host, port: target.port))
        }
    }
}
