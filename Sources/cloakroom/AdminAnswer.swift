import Foundation

/// What a successful admin API answer must hold for a command to believe it.
///
/// `--admin` may name a server that is not the admin API at all (a typo'd port, another
/// service answering 200 with JSON of its own): a command that printed "revoked 0 sessions" or an
/// empty table from such an answer would report success for something that never happened. So
/// every answer is checked against the shape SPEC gives it, and one that does not fit is a
/// failure (exit 1) saying so.
struct AdminAnswer {
    enum Kind: String {
        case list = "a list"
        case count = "a whole number"
        case text = "a string"

        func matches(_ value: Any?) -> Bool {
            switch self {
            case .list: return value is [Any]
            case .count: return (value as? Int).map { $0 >= 0 } == true
            case .text: return value is String
            }
        }
    }

    /// Each key the JSON object must have, with the kind of its value, in the order named.
    var fields: [(key: String, kind: Kind)]

    /// `{"sessions":[...]}`
    static let sessions = AdminAnswer(fields: [("sessions", .list)])
    /// `{"keys":[...]}`
    static let keys = AdminAnswer(fields: [("keys", .list)])
    /// `{"revoked":N}`
    static let revoked = AdminAnswer(fields: [("revoked", .count)])
    /// `{"handle":"...","key":"..."}`
    static let createdKey = AdminAnswer(fields: [("handle", .text), ("key", .text)])

    /// The parsed object when `body` has every field, else `nil`.
    func check(_ body: String) -> [String: Any]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return fields.allSatisfy({ $0.kind.matches(object[$0.key]) }) ? object : nil
    }

    /// Why an answer was not believed, for the operator.
    func refusal(from url: String, status: Int) -> String {
        let expected = fields.map { "\"\($0.key)\" (\($0.kind.rawValue))" }.joined(separator: " and ")
        return "\(url) answered \(status) without the admin API's JSON (expected an object with \(expected)); "
            + "is --admin (or admin.listen) the admin listener?"
    }

    /// Why an answer with a status the call does not expect, and no admin API error in it, was
    /// not believed. Its body is never shown: another server may echo the request, token and all.
    static func unrecognized(from url: String, status: Int) -> String {
        "\(url) answered \(status) without the admin API's JSON; is --admin (or admin.listen) the admin listener?"
    }

    /// An error answer of the admin API: its `error` code, and the `message` some 400s carry.
    struct Failure {
        var code: String
        var message: String?
    }

    /// The codes of the admin API's error answers, by status (SPEC "Admin API"). Another
    /// server's JSON error, such as a public listener's 401 `{"error":"unauthenticated"}`, is
    /// none of them.
    static let errorCodes: [Int: Set<String>] = [
        400: ["bad_request", "invalid_body", "missing_sub", "invalid_name", "invalid_ttl"], 401: ["unauthorized"],
        404: ["not_found"], 405: ["method_not_allowed"], 408: ["request_timeout"], 409: ["reload_unavailable"],
        413: ["body_too_large"], 422: ["invalid_configuration"], 501: ["api_keys_unsupported"],
        503: ["session_store_unavailable"],
    ]

    /// The admin API's error answer in `body` for `status`: a JSON object whose string `error`
    /// is one of the codes the admin API gives that status; `nil` for anything else.
    static func failure(status: Int, body: String) -> Failure? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let code = object["error"] as? String, errorCodes[status]?.contains(code) == true
        else { return nil }
        return Failure(code: code, message: object["message"] as? String)
    }
}
