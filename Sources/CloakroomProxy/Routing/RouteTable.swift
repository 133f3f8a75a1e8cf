import CloakroomConfig

/// Routes compiled for matching: first match in file order wins; a route's path matches as a
/// segment-aware prefix (`/api` matches `/api`, `/api/` and `/api/x`, never `/apix`).
public struct RouteTable: Sendable {
    public struct Entry: Sendable {
        public let index: Int
        public let path: String
        public let upstream: String
        public let auth: Route.Auth
    }

    public let entries: [Entry]

    public init(_ routes: [Route]) {
        entries = routes.enumerated().map { Entry(index: $0.offset, path: $0.element.path, upstream: $0.element.upstream, auth: $0.element.auth) }
    }

    public func match(_ path: Substring) -> Entry? {
        for entry in entries where Self.matches(prefix: entry.path, path: path) { return entry }
        return nil
    }

    static func matches(prefix: String, path: Substring) -> Bool {
        let p = prefix.utf8, r = path.utf8
        guard r.starts(with: p) else { return false }
        if r.count == p.count || p.last == UInt8(ascii: "/") { return true }
        return r[r.index(r.startIndex, offsetBy: p.count)] == UInt8(ascii: "/")
    }
}
