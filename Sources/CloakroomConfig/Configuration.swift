/// The whole of `proxy.yaml`, typed and validated.
///
/// Values of this type are only produced by ``ConfigurationLoader``, which reports every problem
/// with its key path before returning one, so code holding a `Configuration` may rely on every
/// invariant documented below (for example: every route names an existing upstream).
public struct Configuration: Sendable, Equatable {
    public var listeners: [Listener]
    public var client: ClientLimits
    public var session: SessionSettings
    public var identity: IdentitySettings
    public var login: LoginSettings
    public var logout: LogoutSettings
    /// In order; the first matching route wins. Never empty.
    public var routes: [Route]
    /// Keyed by upstream name. Every `Route.upstream` is a key here.
    public var upstreams: [String: Upstream]
    /// `nil` when the file has no `admin` section: there is then no admin listener.
    public var admin: AdminSettings?
    /// How long SIGTERM waits for in-flight requests before closing what is left.
    public var shutdownTimeout: Duration = .seconds(30)

    public init(
        listeners: [Listener], client: ClientLimits = .init(), session: SessionSettings,
        identity: IdentitySettings = .init(), login: LoginSettings = .init(), logout: LogoutSettings = .init(),
        routes: [Route], upstreams: [String: Upstream], admin: AdminSettings? = nil
    ) {
        self.listeners = listeners
        self.client = client
        self.session = session
        self.identity = identity
        self.login = login
        self.logout = logout
        self.routes = routes
        self.upstreams = upstreams
        self.admin = admin
    }
}

/// A `host:port` pair as written in the file (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8443`).
public struct SocketAddressSpec: Sendable, Hashable, CustomStringConvertible {
    /// Without brackets for IPv6 (`::1`).
    public var host: String
    /// 0...65535; 0 asks the OS for a free port (used by tests).
    public var port: Int
    public init(host: String, port: Int) { self.host = host; self.port = port }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct Listener: Sendable, Equatable {
    public var address: SocketAddressSpec
    /// `nil`: plain HTTP.
    public var tls: TLSSettings?
    public init(address: SocketAddressSpec, tls: TLSSettings? = nil) { self.address = address; self.tls = tls }
}

public struct TLSSettings: Sendable, Equatable {
    /// Paths as written, relative to the process's working directory.
    public var certificatePath: String
    public var privateKeyPath: String
    public init(certificatePath: String, privateKeyPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }
}

/// Limits applied to downstream (client) connections.
public struct ClientLimits: Sendable, Equatable {
    public var headerTimeout: Duration = .seconds(10)
    public var idleTimeout: Duration = .seconds(75)
    public var maxHeaderBytes: Int = 32 * 1024
    public var maxBodyBytes: Int = 10 * 1024 * 1024
    /// No request-body bytes for this long while the proxy reads a body: 408 (HTTP/1.1: the
    /// connection then closes, or just ends if a response is under way; HTTP/2: that stream is
    /// answered or reset).
    public var bodyTimeout: Duration = .seconds(60)
    /// An upgraded connection (WebSocket) with no bytes either way for this long is closed.
    public var tunnelIdleTimeout: Duration = .seconds(3600)
    /// HTTP/2: streams a client may have open at once on one connection.
    public var maxConcurrentStreams: Int = 100
    /// Load balancers in front: from a peer in one of these, the client address is the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy, and its
    /// `X-Forwarded-Proto` counts (SPEC "Client address"). Empty: the TCP peer, always.
    public var trustedProxies: [CIDRBlock] = []
    public init() {}
}

public struct SessionSettings: Sendable, Equatable {
    public var cookie: CookieSettings = .init()
    public var idleTimeout: Duration = .seconds(30 * 60)
    public var absoluteTimeout: Duration = .seconds(12 * 3600)
    /// At most one store write per session per interval. Unset in the file: 1m, or half of a
    /// shorter `idle_timeout`. See ``effectiveTouchInterval``.
    public var touchInterval: Duration = .seconds(60)
    /// The throttle the stores apply: `touchInterval`, at most half of `idleTimeout`. A session's
    /// stored `last_seen_at` may lag its last request by one throttle interval, so with a longer
    /// one a session used steadily (say every second, with `idle_timeout` and `touch_interval`
    /// both 3s) would still idle out; with half, it idles out at most half an idle timeout early,
    /// and never while requests come closer together than that.
    public var effectiveTouchInterval: Duration { min(touchInterval, idleTimeout / 2) }
    /// HMAC keys, each at least 32 bytes; the first signs, all verify. Empty only with the
    /// memory store, in which case the server makes a random key at start.
    public var secrets: [String] = []
    public var store: StoreConfiguration = .memory(.init())
    /// Origins (`https://app.example.com`, no path) besides the request's own from which
    /// unsafe requests carrying the session cookie are accepted (CSRF defence).
    public var trustedOrigins: [String] = []
    /// At most this many live sessions per user (`sub`); a login beyond it ends that user's
    /// least recently used session. 0: unlimited.
    public var maxPerUser: Int = 0
    /// The path of the self-service page where a signed-in user lists and ends their own
    /// sessions (e.g. `/.cloakroom/sessions`; never ends with `/`), or `nil` for none.
    public var selfService: String? = nil
    public init() {}
}

public struct CookieSettings: Sendable, Equatable {
    public enum Secure: String, Sendable, Equatable { case auto, always = "true", never = "false" }
    public enum SameSite: String, Sendable, Equatable { case strict, lax, none }
    /// A valid cookie-name token. A name starting `__Host-` implies Secure, `Path=/`, no Domain
    /// (the loader rejects a conflicting `secure: false`, `domain` or `path`).
    public var name: String = "cloakroom_session"
    public var secure: Secure = .auto
    /// `.none` requires `secure` other than `.never` (checked by the loader).
    public var sameSite: SameSite = .lax
    public var domain: String? = nil
    public var path: String = "/"
    public init() {}
}

/// Exactly one store is configured.
public enum StoreConfiguration: Sendable, Equatable {
    case memory(MemoryStoreSettings)
    case file(FileStoreSettings)
    case redis(RedisStoreSettings)
}

public struct MemoryStoreSettings: Sendable, Equatable {
    /// 1 to ``maximumSessions``. Past this, the least recently used session is evicted.
    public var maxSessions: Int = 1_000_000
    /// The largest `max_sessions` (the table indexes its slots with 32-bit integers).
    public static let maximumSessions = 1_000_000_000
    public init(maxSessions: Int = 1_000_000) { self.maxSessions = maxSessions }
}

public struct FileStoreSettings: Sendable, Equatable {
    /// `path` when the key is omitted: relative to the working directory, like every path.
    public static let defaultPath = "sessions.db"
    public var path: String
    public init(path: String) { self.path = path }
}

public struct IdentitySettings: Sendable, Equatable {
    /// Upstream header name → session attribute name, in file order. Header names are valid
    /// HTTP field-name tokens (checked by the loader).
    public var headers: [HeaderMapping] = [
        .init(header: "X-User-Id", attribute: "sub"),
        .init(header: "X-User-Email", attribute: "email"),
        .init(header: "X-User-Roles", attribute: "roles"),
    ]
    /// Header-name patterns removed from every client request; `*` matches any run of
    /// characters (`X-User-*`). Matching is case-insensitive and treats `_` like `-`.
    public var strip: [String] = ["X-User-*"]
    /// The signed identity token for backends; `nil`: none.
    public var assertion: AssertionSettings? = nil
    public init() {}
}

public struct HeaderMapping: Sendable, Equatable {
    public var header: String
    public var attribute: String
    public init(header: String, attribute: String) { self.header = header; self.attribute = attribute }
}

public struct LoginSettings: Sendable, Equatable {
    /// Always starts with `/`.
    public var path: String = "/login"
    public var usersFile: String? = nil
    /// Where browsers are redirected when a required route has no session. Starts with `/`
    /// or is an absolute http(s) URL. With `usersFile` set and this `nil`, the built-in login
    /// page (`path`) is used.
    public var page: String? = nil
    /// Brute-force limits for the built-in login.
    public var throttle: LoginThrottleSettings = .init()
    /// Single sign-on with an OpenID Connect provider; `nil`: none.
    public var oidc: OIDCSettings? = nil
    public init() {}
}

/// Failed built-in logins are counted per username and per client address; past `maxFailures`
/// within `window`, each further attempt waits a delay doubling from 1 s up to `maxDelay`
/// (answered 429 with `Retry-After`).
public struct LoginThrottleSettings: Sendable, Equatable {
    /// At least 1.
    public var maxFailures: Int = 5
    public var window: Duration = .seconds(15 * 60)
    public var maxDelay: Duration = .seconds(15 * 60)
    public init() {}
}

public struct LogoutSettings: Sendable, Equatable {
    /// Always starts with `/`.
    public var path: String = "/logout"
    public var redirect: String = "/"
    public init() {}
}

public struct Route: Sendable, Equatable {
    public enum Auth: String, Sendable, Equatable { case none, optional, required }
    /// Starts with `/`. Matched as a segment-aware prefix.
    public var path: String
    /// A key of `Configuration.upstreams`.
    public var upstream: String
    public var auth: Auth
    /// The request's host this route is for; `nil`: any host.
    public var host: RouteHost?
    /// Who may pass, once signed in: a session must match at least one rule. `nil`: every
    /// session. Never empty when set, and never on an `auth: none` route (checked by the loader).
    public var allow: [AllowRule]?
    /// Replaces the part of the normalized path that `path` matched before forwarding. Starts
    /// with `/`.
    public var rewritePrefix: String?
    /// Client addresses allowed to reach this route; empty: any. Others get 403 before any
    /// session lookup.
    public var networks: [CIDRBlock] = []
    /// Cross-origin browser calls (`routes[].cors`); `nil`: none answered or marked.
    public var cors: CORSSettings? = nil
    /// What a request may present here to count as signed in (`routes[].credentials`).
    public var credentials = RouteCredentials()
    public init(
        path: String, upstream: String, auth: Auth = .required, host: RouteHost? = nil, allow: [AllowRule]? = nil,
        rewritePrefix: String? = nil, networks: [CIDRBlock] = []
    ) {
        self.networks = networks
        self.path = path
        self.upstream = upstream
        self.auth = auth
        self.host = host
        self.allow = allow
        self.rewritePrefix = rewritePrefix
    }
}

public struct Upstream: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// At least one target.
        case targets([UpstreamTarget])
        /// `builtin: echo`.
        case echo
    }
    public var kind: Kind
    public var connectTimeout: Duration = .seconds(2)
    public var responseTimeout: Duration = .seconds(30)
    public var idleTimeout: Duration = .seconds(60)
    /// At least 1.
    public var maxConnections: Int = 256
    /// What the upstream request's `Host` says.
    public var hostHeader: HostHeader = .client
    /// How `https` targets are reached; unused by `http` ones.
    public var tls: UpstreamTLS = .init()
    /// The assertion's `aud` for this upstream; `nil`: the upstream's name.
    public var audience: String? = nil
    public init(kind: Kind) { self.kind = kind }
}

/// An `http://host:port` or `https://host:port` target (no path, query or user info).
public struct UpstreamTarget: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Equatable { case http, https }
    public var host: String
    public var port: Int
    public var scheme: Scheme
    public init(host: String, port: Int, scheme: Scheme = .http) {
        self.host = host
        self.port = port
        self.scheme = scheme
    }
    public var isTLS: Bool { scheme == .https }
    public var description: String { "\(scheme.rawValue)://\(SocketAddressSpec(host: host, port: port))" }
}

public struct AdminSettings: Sendable, Equatable {
    public var listen: SocketAddressSpec
    /// At least 32 bytes.
    public var token: String
    public init(listen: SocketAddressSpec, token: String) { self.listen = listen; self.token = token }
}
