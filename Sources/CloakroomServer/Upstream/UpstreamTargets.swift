import CloakroomConfig
import NIOCore
import NIOSSL

/// One upstream's targets as configured, with their addresses resolved once at start (like
/// nginx without a `resolver`), and what each connection to them needs: the TLS context and
/// the name to send as SNI and verify for `https` targets, and the `Host` to write. What
/// changes at run time (open connections, failures, the round-robin position) is the pool's
/// (``UpstreamPoolStateMachine``).
struct UpstreamTargets: Sendable {
    let name: String
    let targets: [UpstreamTarget]
    let settings: Upstream
    /// Each target's address; `nil` when resolution failed at start, in which case each
    /// connect resolves again.
    let addresses: [SocketAddress?]
    /// The client context for `https` targets (``UpstreamTLSContexts``); `nil` when none is.
    let tls: NIOSSLContext?
    /// Each target's SNI and verified name: `tls.server_name`, else its host unless that is an
    /// IP literal (then `nil`: no SNI, and the certificate's IP SANs are checked against the
    /// address connected to).
    let serverNames: [String?]
    /// Each target's name its certificate must be valid for (``UpstreamServerIdentity``):
    /// `tls.server_name`, else its host (an IP literal is checked against IP SANs); `nil` with
    /// `insecure_skip_verify`.
    let verifiedNames: [String?]
    /// Each target's `Host` for the upstream request; `nil`: the client's (`host_header: client`).
    let hostHeaders: [String?]
    /// How long a target that failed to connect is tried after the others.
    static let failurePenalty = TimeAmount.seconds(5)

    init(name: String, targets: [UpstreamTarget], settings: Upstream, tls: NIOSSLContext? = nil) {
        self.name = name
        self.targets = targets
        self.settings = settings
        self.tls = tls
        self.addresses = targets.map { target in
            (try? SocketAddress(ipAddress: target.host, port: target.port))
                ?? (try? SocketAddress.makeAddressResolvingHost(target.host, port: target.port))
        }
        serverNames = targets.map { target in
            settings.tls.serverName ?? ((try? SocketAddress(ipAddress: target.host, port: 0)) == nil ? target.host : nil)
        }
        verifiedNames = targets.map { target in
            settings.tls.insecureSkipVerify ? nil : settings.tls.serverName ?? target.host
        }
        hostHeaders = targets.map { target in
            switch settings.hostHeader {
            case .client: nil
            case .target: target.hostHeaderValue
            case .literal(let value): value
            }
        }
    }
}
