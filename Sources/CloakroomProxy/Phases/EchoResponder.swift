import CloakroomSessions
import HTTPTypes

/// The `builtin: echo` upstream: answers with the request exactly as a backend would have
/// received it (after stripping and identity injection), as JSON. It is how a user sees what
/// their backend will get.
public enum EchoResponder {
    public static func response(for request: HTTPRequest, requestID: String) -> LocalResponse {
        var headers: JSONObject = [:]
        if let authority = request.authority, !authority.isEmpty { headers["host"] = .string(authority) }
        for field in request.headerFields {
            let name = field.name.canonicalName
            switch headers[name] {
            case nil: headers[name] = .string(field.value)
            case .string(let first)?: headers[name] = .array([.string(first), .string(field.value)])
            case .array(let values)?: headers[name] = .array(values + [.string(field.value)])
            default: break
            }
        }
        let body: JSONValue = .object([
            "method": .string(request.method.rawValue),
            "path": .string(request.path ?? ""),
            "headers": .object(headers),
        ])
        return .json(status: .ok, body: body.jsonText, requestID: requestID)
    }
}
