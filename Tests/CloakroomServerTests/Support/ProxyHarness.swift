import CloakroomConfig
import CloakroomServer
import CloakroomSessions
import Logging
import NIOCore

/// The real proxy on 127.0.0.1:0 in front of a ``TestBackend``.
struct ProxyHarness {
    let server: ProxyServer
    let backend: TestBackend
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    /// A configuration like the shipped one: `/public/` open, `/optional/` optional, `/echo/`
    /// on the echo upstream, everything else required; the backend as the `api` upstream.
    static func configuration(backendPort: Int, adjust: (inout Configuration) -> Void = { _ in }) -> Configuration {
        var upstream = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backendPort)]))
        upstream.responseTimeout = .seconds(2)
        upstream.connectTimeout = .seconds(1)
        var session = SessionSettings()
        session.secrets = [String(repeating: "k", count: 32)]
        var configuration = Configuration(
            listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))],
            session: session,
            routes: [
                Route(path: "/public/", upstream: "api", auth: .none),
                Route(path: "/optional/", upstream: "api", auth: .optional),
                Route(path: "/echo/", upstream: "echo", auth: .optional),
                Route(path: "/", upstream: "api", auth: .required),
            ],
            upstreams: ["api": upstream, "echo": Upstream(kind: .echo)])
        adjust(&configuration)
        return configuration
    }

    /// - Parameter configurationSource: what a reload re-reads; given the first configuration.
    static func start(
        clock: any WallClock = SystemWallClock(), logger: Logger? = nil, accessLog: Logger? = nil, threads: Int = 1,
        adjust: (inout Configuration) -> Void = { _ in },
        configurationSource: ((Configuration) -> @Sendable () throws -> Configuration)? = nil
    ) async throws -> ProxyHarness {
        let backend = try await TestBackend.start()
        let configuration = Self.configuration(backendPort: backend.port, adjust: adjust)
        let logger = logger ?? {
            var quiet = Logger(label: "cloakroom-test")
            quiet.logLevel = .critical
            return quiet
        }()
        let session = configuration.session
        guard case .memory(let memory) = session.store else { preconditionFailure("the harness runs the memory store") }
        let store = MemorySessionStore(
            maxSessions: memory.maxSessions,
            timeouts: SessionTimeouts(idle: session.idleTimeout, absolute: session.absoluteTimeout, touchInterval: session.effectiveTouchInterval),
            clock: clock)
        let server = try ProxyServer(
            configuration: configuration, store: store, logger: logger, observability: .init(accessLog: accessLog), clock: clock, threads: threads,
            configurationSource: configurationSource.map { $0(configuration) })
        let addresses: [SocketAddress]
        do {
            addresses = try await server.start()
        } catch {
            // A listener that could not bind (a port taken meanwhile): nothing of the server
            // outlives the test (its event loops, its identity provider client).
            await server.shutdown()
            await backend.stop()
            throw error
        }
        return ProxyHarness(server: server, backend: backend, port: addresses[0].port!)
    }

    func stop() async {
        await server.shutdown()
        await backend.stop()
    }

    /// Logs in through the backend's `Session-Login` and returns the `name=value` cookie pair.
    func login(_ sub: String = "alice") async throws -> String {
        let response = try await Curl.get("\(base)/login?sub=\(sub)")
        guard let setCookie = response.header("set-cookie"), let pair = setCookie.split(separator: ";").first else {
            throw HarnessError.noCookie(response.status)
        }
        return String(pair)
    }
}

enum HarnessError: Error {
    case noCookie(Int)
    /// The binary did not become healthy: why, and the end of its standard error.
    case notStarted(String, stderr: String)
}
