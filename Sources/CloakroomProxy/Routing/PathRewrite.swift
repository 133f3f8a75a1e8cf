/// `routes[].rewrite_prefix`: the part of the normalized path that the route's `path` matched
/// is replaced with the prefix before forwarding, joined to the rest with exactly one slash.
///
/// A route path with a trailing slash gives that slash to the join: route `/svc/` with prefix
/// `/base` turns `/svc/x` into `/base/x` and `/svc/` into `/base/`; route `/svc` turns `/svc`
/// into `/base` and `/svc/x` into `/base/x`; prefix `/` turns route `/api/`'s `/api/users` into
/// `/users`. The query is not part of the path and stays as it was.
enum PathRewrite {
    /// - Precondition: `routePath` matched `path` (a segment-aware prefix of it).
    static func apply(prefix: String, routePath: String, to path: Substring) -> String {
        var rest = path.utf8.dropFirst(routePath.utf8.count)
        let slashGiven = routePath.utf8.last == UInt8(ascii: "/")
        if !slashGiven, rest.isEmpty { return prefix }
        // `rest` now starts after a slash (given by the route path) or with one.
        if !slashGiven { rest = rest.dropFirst() }
        var result = prefix
        if prefix.utf8.last != UInt8(ascii: "/") { result += "/" }
        result += Substring(rest)
        return result
    }

    /// The target to forward: the rewritten path and the original query.
    static func target(prefix: String, routePath: String, path: Substring, query: Substring?) -> String {
        let rewritten = apply(prefix: prefix, routePath: routePath, to: path)
        guard let query else { return rewritten }
        return rewritten + "?" + query
    }
}
