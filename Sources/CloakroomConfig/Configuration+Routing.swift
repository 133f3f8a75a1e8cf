/// The host a route is for (`routes[].host`), as the loader read it: lower-cased, without a
/// trailing dot and without a port, since requests are compared that way.
public enum RouteHost: Sendable, Hashable, CustomStringConvertible {
    /// One name: `admin.example.com`, `127.0.0.1`, `[::1]`.
    case exact(String)
    /// `*.example.com`, held as its suffix `example.com`: every name ending `.example.com`,
    /// subdomains at any depth (`a.b.example.com`), never the apex `example.com` itself.
    case wildcard(suffix: String)

    public var description: String {
        switch self {
        case .exact(let name): name
        case .wildcard(let suffix): "*." + suffix
        }
    }

    /// Whether a request for `name` (normalized: lower-case, no port, no trailing dot) matches.
    public func matches(_ name: String) -> Bool {
        switch self {
        case .exact(let exact): return name == exact
        case .wildcard(let suffix):
            return name.utf8.count > suffix.utf8.count + 1 && name.hasSuffix("." + suffix)
        }
    }

    /// Whether every request this host matches, `self` matches too: an earlier route with a
    /// covering host (and a covering path) leaves a later one nothing to match.
    public func covers(_ other: RouteHost) -> Bool {
        switch (self, other) {
        case (.exact(let a), .exact(let b)): return a == b
        case (.exact, .wildcard): return false
        case (.wildcard, .exact(let name)): return matches(name)
        case (.wildcard(let a), .wildcard(let b)): return a == b || RouteHost.wildcard(suffix: a).matches(b)
        }
    }
}

/// One rule of `routes[].allow`: a session matches when every condition holds.
public struct AllowRule: Sendable, Equatable {
    /// `attribute: value` or `attribute: [values]` as written.
    public struct Condition: Sendable, Equatable {
        public var attribute: String
        /// Never empty. Whole, case-sensitive values; `*` matches any run of characters.
        public var patterns: [String]
        public init(attribute: String, patterns: [String]) {
            self.attribute = attribute
            self.patterns = patterns
        }
    }

    /// Never empty, in file order.
    public var conditions: [Condition]
    public init(conditions: [Condition]) { self.conditions = conditions }
}

/// `upstreams.*.host_header`: what the upstream request's `Host` says.
public enum HostHeader: Sendable, Equatable {
    /// The client's `Host` (HTTP/2: `:authority`), unchanged.
    case client
    /// The target's `host:port`, the port left out when it is the scheme's default.
    case target
    /// This value, for every request.
    case literal(String)
}

/// `upstreams.*.tls`: how `https://` targets are verified and whom the proxy presents itself as.
/// Paths are relative to the working directory; each names a readable file (checked by the
/// loader), and what the files hold is checked by the server (`cloakroom check`, start, reload).
public struct UpstreamTLS: Sendable, Equatable {
    /// A PEM bundle of the certificates trusted to sign the upstream's; `nil`: the system roots.
    public var caPath: String? = nil
    /// The name sent as SNI and verified against the certificate; `nil`: the target's host (an
    /// IP literal is then verified against the certificate's IP SANs, without SNI).
    public var serverName: String? = nil
    /// A PEM client certificate (chain) for mutual TLS; set together with `privateKeyPath`.
    public var certificatePath: String? = nil
    public var privateKeyPath: String? = nil
    /// No verification at all: any certificate for any name is accepted. Warned at start.
    public var insecureSkipVerify = false
    public init() {}

    /// Whether anything differs from the defaults (the `tls` key was given with content).
    var isConfigured: Bool { self != UpstreamTLS() }
}
