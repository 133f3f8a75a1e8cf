/// Finds, for a route, the first earlier route that matches every request it would (see
/// ``Route/shadows(_:)``), without comparing it against every earlier route.
///
/// Earlier routes are indexed by host and path, each key keeping its first route. A later route
/// can only be shadowed by a route whose host is none, its own, or a wildcard over one of its
/// name's suffixes, and whose path is one of its own path's segment prefixes; those are looked
/// up directly. Checking n routes costs O(n · d²) for hosts and paths of d labels or segments,
/// instead of comparing every pair (5,000 routes took seconds).
struct RouteShadowing {
    private enum HostKey: Hashable {
        case any
        case exact(String)
        case wildcard(String)
    }

    private struct Key: Hashable {
        var host: HostKey
        /// The route path without its trailing `/` (`/` itself: empty).
        var path: Substring
    }

    private var first: [Key: Int] = [:]

    /// Indexes `route`, listed at `index`; a key already held keeps its earlier route.
    mutating func insert(_ route: Route, at index: Int) {
        guard !route.path.isEmpty else { return }
        let host: HostKey
        switch route.host {
        case nil: host = .any
        case .exact(let name): host = .exact(name)
        case .wildcard(let suffix): host = .wildcard(suffix)
        }
        let key = Key(host: host, path: Self.trimmed(route.path))
        if first[key] == nil { first[key] = index }
    }

    /// The lowest index of an inserted route that shadows `route`.
    func firstShadowing(_ route: Route) -> Int? {
        guard !route.path.isEmpty else { return nil }
        let path = Self.trimmed(route.path)
        // Segment prefixes: `/` (empty), then up to each later `/`, then the whole path.
        var prefixes: [Substring] = [path[path.startIndex..<path.startIndex]]
        for index in path.indices where index > path.startIndex && path[index] == "/" {
            prefixes.append(path[..<index])
        }
        if !path.isEmpty { prefixes.append(path) }
        var hosts: [HostKey] = [.any]
        switch route.host {
        case nil: break
        case .exact(let name):
            hosts.append(.exact(name))
            hosts += Self.wildcardSuffixes(of: name).map(HostKey.wildcard)
        case .wildcard(let suffix):
            hosts.append(.wildcard(suffix))
            hosts += Self.wildcardSuffixes(of: suffix).map(HostKey.wildcard)
        }
        var lowest: Int?
        for host in hosts {
            for prefix in prefixes {
                if let index = first[Key(host: host, path: prefix)], index < lowest ?? .max { lowest = index }
            }
        }
        return lowest
    }

    /// The suffixes a wildcard may hold to match `name`: after each dot with a label before it
    /// (`a.b.example.com`: `b.example.com`, `example.com`, `com`).
    private static func wildcardSuffixes(of name: String) -> [String] {
        name.indices.compactMap { index in
            guard index > name.startIndex, name[index] == ".", name.index(after: index) < name.endIndex else { return nil }
            return String(name[name.index(after: index)...])
        }
    }

    private static func trimmed(_ path: String) -> Substring {
        path.hasSuffix("/") ? path.dropLast() : path[...]
    }
}
