import CloakroomConfig
import CloakroomLogin
import CloakroomOIDC
import CloakroomProxy
import CloakroomRedis
import CloakroomSessions
import Logging
import Metrics
import NIOCore
import NIOSSL
import Synchronization

import struct Foundation.Date

/// Builds a ``ProxyRuntime`` from a configuration: at start and again at every reload.
///
/// Everything that can fail (TLS material for listeners and upstreams, the users file) is read here, so a bad reload is
/// refused whole with the old runtime still serving.
struct RuntimeFactory: Sendable {
    let store: any SessionStore
    let logger: Logger
    let observability: ProxyServer.Observability
    let clock: any WallClock
    let eventLoops: [any EventLoop]
    let watch: SessionWatch
    /// Made once when `session.secrets` is empty (memory store only) and kept across reloads,
    /// so a reload does not end every session.
    let fallbackSecret: [UInt8]
    /// `POST /reload`, bound to the server once it exists.
    let reload: ReloadHook
    /// The OpenID Connect client (`login.oidc`), kept across reloads.
    let signOnClients = SignOnClients()
    /// The identity assertion's signer (`identity.assertion`); its key made at start, if any,
    /// kept across reloads.
    let assertionSigners = AssertionSigners()

    /// `previous`: the runtime a reload replaces, whose unchanged upstream pools carry over
    /// (``UpstreamRegistry/init(configuration:tls:previous:)``).
    func make(_ configuration: Configuration, previous: ProxyRuntime? = nil) throws -> ProxyRuntime {
        let store = self.store, clock = self.clock, logger = self.logger
        var secrets = configuration.session.secrets.map { Array($0.utf8) }
        if secrets.isEmpty { secrets = [fallbackSecret] }
        let users = try configuration.login.usersFile.map { path in
            do {
                return try UsersFile(path: path, clock: SystemWallClock()) { result in
                    switch result {
                    case .success(let count): logger.notice("users file re-read", metadata: ["path": "\(path)", "users": "\(count)"])
                    case .failure(let error):
                        logger.error("users file changed but cannot be used; the last good copy stays in force", metadata: ["error": "\(error)"])
                    }
                }
            } catch {
                throw ServerStartError.unsupported("login.users_file: \(error)")
            }
        }
        let tlsContexts = try TLSContexts.make(for: configuration.listeners)
        var tls: [SocketAddressSpec: NIOSSLContext] = [:]
        for (listener, context) in zip(configuration.listeners, tlsContexts) {
            if let context { tls[listener.address] = context }
        }
        // Re-read on every reload, so a renewed upstream CA or client certificate applies to
        // the new pools' connections.
        let upstreamTLS = try UpstreamTLSContexts.make(for: configuration.upstreams)
        for warning in CertificateValidity.warnings(in: configuration, now: Date()) { logger.warning("\(warning)") }
        for name in UpstreamTLSContexts.unverified(in: configuration.upstreams) {
            logger.warning(
                "upstreams.\(name).tls.insecure_skip_verify is true: the upstream's certificate and name are not verified, so anyone on the network path can impersonate it")
        }
        let assertion = try configuration.identity.assertion.flatMap { settings in
            IdentityAssertion(
                configuration: configuration, signer: try assertionSigners.signer(for: settings), clock: clock, logger: logger)
        }
        // Last of what can fail: a new client replaces the running one (shut down 30 s later).
        var signOnClient: OIDCClient?
        if let oidc = configuration.login.oidc {
            guard store is any ProviderSessionStore else {
                throw ServerStartError.unsupported("login.oidc: the session store cannot keep single sign-on sessions")
            }
            signOnClient = try signOnClients.client(for: oidc, secrets: secrets, logger: logger)
        }
        let policy = ProxyPolicy(
            configuration: configuration, store: store, codec: SessionCookieCodec(secrets: secrets), logger: logger,
            builtinLogin: { cookies in
                users.map {
                    BuiltinLogin(settings: configuration.login, users: $0, store: store, cookies: cookies, clock: clock, logger: logger)
                }
            },
            signOn: { cookies in
                guard let signOnClient, let providerStore = store as? any ProviderSessionStore else { return nil }
                return SignOnFlow(
                    provider: signOnClient, store: providerStore, cookies: cookies, configuration: configuration, clock: clock, logger: logger)
            },
            assertion: assertion)
        return ProxyRuntime(
            configuration: configuration, policy: policy,
            upstreams: UpstreamRegistry(configuration: configuration, tls: upstreamTLS, previous: previous?.upstreams),
            logger: logger, accessLog: observability.accessLog,
            metrics: RequestMetrics(upstreams: Array(configuration.upstreams.keys)),
            tls: tls, adminAPI: adminAPI(configuration, cookies: policy.cookies, jwks: assertion?.signer.jwks), watch: watch,
            eventLoopLookup: store as? any EventLoopSessionLookup)
    }

    private var reloadAction: (@Sendable () async -> AdminAPI.ReloadResult)? {
        guard reload.isAvailable else { return nil }
        let hook = reload
        return { await hook.run() }
    }

    private func adminAPI(_ configuration: Configuration, cookies: SessionCookies, jwks: [UInt8]?) -> AdminAPI? {
        guard let admin = configuration.admin else { return nil }
        let render = observability.renderMetrics
        let active = Gauge(label: "cloakroom_sessions_active")
        if render != nil { SessionMetrics.register() }
        return AdminAPI(
            store: store, token: admin.token, cookies: cookies, logger: logger,
            metrics: { [store] in
                // NaN while the store cannot be read: not "no sessions" (found by an audit).
                // swift-prometheus writes it `nan`, which Prometheus parses as NaN.
                if let count = try? await store.liveCount() { active.record(count) } else { active.record(Double.nan) }
                return render?() ?? ""
            },
            reload: reloadAction, jwks: jwks, maxPerUser: configuration.session.maxPerUser)
    }
}

/// Lets the admin API (built before the server exists) call ``ProxyServer/reload()``.
final class ReloadHook: Sendable {
    let isAvailable: Bool
    private let action = Mutex<(@Sendable () async -> AdminAPI.ReloadResult)?>(nil)

    init(isAvailable: Bool) { self.isAvailable = isAvailable }

    func bind(_ run: @escaping @Sendable () async -> AdminAPI.ReloadResult) { action.withLock { $0 = run } }

    func run() async -> AdminAPI.ReloadResult {
        guard let run = action.withLock({ $0 }) else { return .refused(["reload: the server is not running"]) }
        return await run()
    }
}
