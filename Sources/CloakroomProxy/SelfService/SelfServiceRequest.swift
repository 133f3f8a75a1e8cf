import HTTPTypes

/// What a request to the self-service page (`session.self_service`, here `{page}`) asks for:
///
/// | method | path | request |
/// |---|---|---|
/// | `GET`, `HEAD` | `{page}` | ``list`` |
/// | `POST` | `{page}/{handle}/end` (a plain HTML form) | ``end(handle:)`` |
/// | `DELETE` | `{page}/{handle}` | ``end(handle:)`` |
/// | `POST` | `{page}/end-others` | ``endOthers`` |
///
/// Another method on one of these paths is 405; any other path under `{page}` is 404.
enum SelfServiceRequest: Equatable, Sendable {
    case list
    case end(handle: String)
    case endOthers

    static let endOthersSegment = "end-others"

    /// Whether `path` (normalized, without query) is the page or under it.
    static func isUnder(_ page: String, _ path: some StringProtocol) -> Bool {
        path.hasPrefix(page) && (path.utf8.count == page.utf8.count || path.utf8.dropFirst(page.utf8.count).first == UInt8(ascii: "/"))
    }

    /// The request for `path` under `page`, or the error to answer.
    static func parse(page: String, path: String, method: HTTPRequest.Method) -> Result<SelfServiceRequest, ProxyError> {
        let rest = path.dropFirst(page.count).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let segments = Array(rest)
        func only(_ allowed: [HTTPRequest.Method], _ request: SelfServiceRequest) -> Result<SelfServiceRequest, ProxyError> {
            allowed.contains(method) ? .success(request) : .failure(ProxyError.methodNotAllowed(allowing: allowed))
        }
        switch segments.count {
        case 0:
            return only([.get, .head], .list)
        case 1 where segments[0].isEmpty:
            return only([.get, .head], .list)
        case 1 where segments[0] == endOthersSegment:
            return only([.post], .endOthers)
        case 1:
            return only([.delete], .end(handle: String(segments[0])))
        case 2 where segments[1] == "end" && !segments[0].isEmpty:
            return only([.post], .end(handle: String(segments[0])))
        default:
            return .failure(ProxyError(.notFound, "no such self-service path"))
        }
    }
}
