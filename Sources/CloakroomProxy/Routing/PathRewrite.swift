/// `routes[].rewrite_prefix`: the part of the normalized path that the route's `path` matched
/// is replaced with the prefix before forwarding, joined to the rest with exactly one slash.
///
/// A route path with a trailing slash gives that slash to the join: route `/svc/` with prefix
/// `/base` turns `/svc/x` into `/base/x` and `/svc/` into `/base/`; route `/svc` turns `/svc`
/// into `/base` and `/svc/x` into `/base/x`; prefix `/` turns route `/api/`'s `/api/users` into
/// `/users`. The query is not part of the path and stays as it was.
enum PathRewrite {
    /// The route path's segments are replaced, counted as segments: the path may carry
    /// parameters the route path matched without (`/svc;v=1/x` for route `/svc/`, see
    /// ``RequestPath/routingPath``); they go with the segment they belong to.
    ///
    /// - Precondition: `routePath` matched `path`'s routing path (a segment-aware prefix of it).
    static func apply(prefix: String, routePath: String, to path: Substring) -> String {
        let segments = segmentCount(routePath)
        // Past the route path's segments: empty, or the slash after them and the rest.
        var after = path.utf8[...]
        for _ in 0..<segments {
            after = after.dropFirst().drop { $0 != UInt8(ascii: "/") }
        }
        if routePath.utf8.last != UInt8(ascii: "/"), after.isEmpty { return prefix }
        let rest = after.first == UInt8(ascii: "/") ? after.dropFirst() : after
        var result = prefix
        if prefix.utf8.last != UInt8(ascii: "/") { result += "/" }
        result += Substring(rest)
        return result
    }

    /// The non-empty segments of `path`, counted without building them.
    static func segmentCount(_ path: String) -> Int {
        var count = 0
        var previous = UInt8(ascii: "/")
        for byte in path.utf8 {
            if previous == UInt8(ascii: "/"), byte != UInt8(ascii: "/") { count += 1 }
            previous = byte
        }
        return count
    }

    /// The target to forward: the rewritten path and the original query.
    static func target(prefix: String, routePath: String, path: Substring, query: Substring?) -> String {
        let rewritten = apply(prefix: prefix, routePath: routePath, to: path)
        guard let query else { return rewritten }
        return rewritten + "?" + query
    }
}
