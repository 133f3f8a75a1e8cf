import CloakroomConfig

/// Routes compiled for matching: a route matches when its host (if it has one) matches the
/// request's host and its path matches the normalized path as a segment-aware prefix (`/api`
/// matches `/api`, `/api/` and `/api/x`, never `/apix`); the first match in file order wins.
///
/// Compiled once per configuration into groups of routes that share a host key: one group per
/// exact host, one per wildcard suffix, one for routes without a host. Matching probes only the
/// groups the request's host can reach: its exact name, each of its parent domains for
/// wildcards (`a.b.example.com` → `b.example.com`, `example.com`, `com`), and the hostless
/// group, and keeps the lowest route index found. Inside a group, a small one (up to
/// ``RouteGroup/linearLimit`` routes) is scanned in order; a larger one is probed by the path's
/// candidate prefixes (each `/` in the path gives the prefix before it and the one through it,
/// plus the whole path), each a dictionary lookup.
///
/// Cost per request: O(h + s) hash lookups, for h labels in the host and s segments in the path,
/// each hashing at most the host or the path; independent of the number of routes. A table
/// without any `host` skips the host entirely. `RouteTableTests` measures 1,000 host-and-path
/// routes against a small table.
public struct RouteTable: Sendable {
    /// One compiled route. A class: the exchange holds it by reference, one retain instead of
    /// one per field.
    public final class Entry: Sendable {
        /// Position in `routes`: the lower wins.
        public let index: Int
        public let path: String
        public let upstream: String
        public let auth: Route.Auth
        public let host: RouteHost?
        /// `routes[].allow` compiled; `nil`: every session passes.
        public let allow: AllowPolicy?
        public let rewritePrefix: String?
        /// `routes[].networks`; `nil`: any client address.
        public let networks: [CIDRBlock]?
        /// `routes[].cors` compiled; `nil`: no cross-origin calls answered or marked.
        public let cors: CORSPolicy?
        /// `routes[].credentials`: what may sign a request in here.
        public let credentials: RouteCredentials
        /// How metrics and logs name the route: its path, after its host when it has one
        /// (`admin.example.com/`).
        public let label: String

        init(index: Int, route: Route) {
            self.index = index
            path = route.path
            upstream = route.upstream
            auth = route.auth
            host = route.host
            allow = route.allow.map(AllowPolicy.init)
            rewritePrefix = route.rewritePrefix
            networks = route.networks.isEmpty ? nil : route.networks
            cors = route.cors.map(CORSPolicy.init)
            credentials = route.credentials
            label = route.host.map { "\($0)\(route.path)" } ?? route.path
        }

        /// Whether `client` may reach this route (`networks`): any client when it has none; a
        /// client address that is not an IP address is in no network.
        public func admits(_ client: ClientInfo) -> Bool {
            guard let networks else { return true }
            guard let ip = client.ip else { return false }
            return networks.containsAddress(ip)
        }
    }

    /// In file order.
    public let entries: [Entry]
    private let exact: [Substring: RouteGroup]
    private let wildcards: [Substring: RouteGroup]
    private let anyHost: RouteGroup
    /// Whether any route names a host; when none does the request's host is never read.
    public let hasHosts: Bool

    public init(_ routes: [Route]) {
        entries = routes.enumerated().map { Entry(index: $0.offset, route: $0.element) }
        var exact: [Substring: [Entry]] = [:], wildcards: [Substring: [Entry]] = [:], anyHost: [Entry] = []
        for entry in entries {
            switch entry.host {
            case nil: anyHost.append(entry)
            case .exact(let name)?: exact[Substring(name), default: []].append(entry)
            case .wildcard(let suffix)?: wildcards[Substring(suffix), default: []].append(entry)
            }
        }
        self.exact = exact.mapValues(RouteGroup.init)
        self.wildcards = wildcards.mapValues(RouteGroup.init)
        self.anyHost = RouteGroup(anyHost)
        hasHosts = !exact.isEmpty || !wildcards.isEmpty
    }

    /// The route for a request to `path` (normalized) on any host: only routes without a host
    /// can match.
    public func match(_ path: Substring) -> Entry? {
        anyHost.first(path)
    }

    /// The route for a request with `authority` (`Host` or `:authority`, as received) and
    /// `path` (normalized).
    public func match(authority: String?, path: Substring) -> Entry? {
        var best = anyHost.first(path)
        guard hasHosts, let authority, let host = RequestHost.normalized(authority) else { return best }
        func consider(_ group: RouteGroup?) {
            guard let group, let found = group.first(path, before: best?.index ?? Int.max) else { return }
            best = found
        }
        consider(exact[host])
        if !wildcards.isEmpty {
            var rest = host[...]
            while let dot = rest.utf8.firstIndex(of: UInt8(ascii: ".")) {
                rest = rest[rest.utf8.index(after: dot)...]
                consider(wildcards[rest])
            }
        }
        return best
    }

    /// Whether a route's `path` matches the normalized request `path` as a segment-aware prefix.
    /// A route path ending in `/` also matches the same path without it (`/admin/` matches
    /// `/admin`), which the policy answers with a redirect to the route's path
    /// (``Exchange/Endpoint/directoryRedirect``): a bare `/admin` never slips past the route's
    /// rules to a later, weaker route.
    static func matches(prefix: String, path: Substring) -> Bool {
        let p = prefix.utf8, r = path.utf8
        guard r.starts(with: p) else {
            return p.count > 1 && p.last == UInt8(ascii: "/") && r.count == p.count - 1 && p.starts(with: r)
        }
        if r.count == p.count || p.last == UInt8(ascii: "/") { return true }
        return r[r.index(r.startIndex, offsetBy: p.count)] == UInt8(ascii: "/")
    }
}

/// The routes sharing one host key, in file order.
struct RouteGroup: Sendable {
    /// Up to this many routes are scanned in order: comparing a few short prefixes costs less
    /// than hashing the path's candidates.
    static let linearLimit = 8

    let entries: [Entry]
    /// For a large group: each distinct route path → the first entry with it.
    let byPath: [Substring: RouteTable.Entry]?
    /// Bit n set when some route path here is n bytes long (bit 63: 63 or more), so a
    /// candidate prefix of a length no route has is skipped without hashing it.
    let lengths: UInt64

    typealias Entry = RouteTable.Entry

    init(_ entries: [Entry]) {
        self.entries = entries
        var lengths: UInt64 = 0
        for entry in entries { lengths |= Self.bit(entry.path.utf8.count) | Self.bit(entry.path.utf8.count - 1) }
        self.lengths = lengths
        if entries.count > Self.linearLimit {
            // Each path, and a path ending in `/` also without it (see `RouteTable.matches`);
            // in file order, so the first route to match a key keeps it.
            var byPath: [Substring: Entry] = [:]
            for entry in entries {
                let path = Substring(entry.path)
                if byPath[path] == nil { byPath[path] = entry }
                if path.count > 1, path.last == "/", byPath[path.dropLast()] == nil { byPath[path.dropLast()] = entry }
            }
            self.byPath = byPath
        } else {
            byPath = nil
        }
    }

    private static func bit(_ length: Int) -> UInt64 { 1 << UInt64(min(length, 63)) }

    /// The first entry matching `path` whose index is below `limit`.
    func first(_ path: Substring, before limit: Int = Int.max) -> Entry? {
        guard let byPath else {
            for entry in entries {
                if entry.index >= limit { return nil }
                if RouteTable.matches(prefix: entry.path, path: path) { return entry }
            }
            return nil
        }
        var best: Entry?
        let lengths = self.lengths
        func probe(_ candidate: Substring) {
            guard lengths & Self.bit(candidate.utf8.count) != 0 else { return }
            if let entry = byPath[candidate], entry.index < (best?.index ?? limit) { best = entry }
        }
        // A route path without a trailing slash matches up to a `/` of the request path or its
        // end; one with a trailing slash matches through a `/`.
        let utf8 = path.utf8
        var index = utf8.startIndex
        while index < utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                if index > utf8.startIndex { probe(path[..<index]) }
                probe(path[...index])
            }
            index = utf8.index(after: index)
        }
        if utf8.last != UInt8(ascii: "/") { probe(path) }
        return best
    }
}

/// The request's host as routes compare it: the `Host` (or `:authority`) value without its
/// port and without a trailing dot, lower-cased.
public enum RequestHost {
    /// `nil` for an empty host. No allocation unless the host has upper-case letters.
    public static func normalized(_ authority: String) -> Substring? {
        let utf8 = authority.utf8
        var end = utf8.endIndex
        if utf8.first == UInt8(ascii: "[") {
            if let close = utf8.firstIndex(of: UInt8(ascii: "]")) { end = utf8.index(after: close) }
        } else if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        var host = authority[..<end]
        if host.utf8.first == UInt8(ascii: "["), host.utf8.last == UInt8(ascii: "]"),
            let canonical = IPAddress.bracketedHost(host.dropFirst().dropLast())
        {
            return Substring(canonical)  // one spelling of the address, as route hosts are written
        }
        if host.utf8.last == UInt8(ascii: "."), host.utf8.count > 1 { host = host.dropLast() }
        guard !host.isEmpty else { return nil }
        if host.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            return Substring(host.lowercased())
        }
        return host
    }
}
