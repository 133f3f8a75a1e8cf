import CloakroomSessions

/// The credentials in a login POST body.
///
/// Accepted bodies, by `Content-Type` (media type compared case-insensitively, parameters other
/// than a UTF-8 `charset` rejected):
/// - `application/x-www-form-urlencoded`: `username`, `password` and optional `next` fields,
///   `&`-separated; `+` is a space and `%XX` is a byte, and the decoded bytes must be UTF-8.
///   Other fields are ignored; a field given twice, or a malformed `%` escape, rejects the body.
/// - `application/json` (or `application/*+json`): an object with string `username` and
///   `password` and an optional string (or null) `next`; other members are ignored.
///
/// `username` and `password` must be non-empty; an empty `next` counts as absent. Anything else,
/// including bodies over ``maximumBodySize``, parses to `nil`.
public struct LoginForm: Sendable, Equatable {
    public var username: String
    public var password: String
    public var next: String?

    public init(username: String, password: String, next: String? = nil) {
        self.username = username
        self.password = password
        self.next = next
    }

    /// The largest body ``parse(body:contentType:)`` reads; the server should stop reading a
    /// login POST there (413).
    public static let maximumBodySize = 16 * 1024

    public static func parse(body: [UInt8], contentType: String?) -> LoginForm? {
        guard body.count <= maximumBodySize, let contentType, let kind = Kind(contentType: contentType) else {
            return nil
        }
        let fields: [String: String]?
        switch kind {
        case .form: fields = formFields(body)
        case .json: fields = jsonFields(body)
        }
        guard let fields, let username = fields["username"], let password = fields["password"],
              !username.isEmpty, !password.isEmpty
        else { return nil }
        let next = fields["next"].flatMap { $0.isEmpty ? nil : $0 }
        return LoginForm(username: username, password: password, next: next)
    }

    private enum Kind {
        case form, json

        init?(contentType: String) {
            let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
            let media = parts[0].trimmingSpaces.lowercased()
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingSpaces.lowercased() == "charset" else { return nil }
                let charset = pair[1].trimmingSpaces.lowercased().filter { $0 != "\"" }
                guard charset == "utf-8" || charset == "utf8" else { return nil }
            }
            if media == "application/x-www-form-urlencoded" {
                self = .form
            } else if media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) {
                self = .json
            } else {
                return nil
            }
        }
    }

    private static let fieldNames: Set<String> = ["username", "password", "next"]

    private static func formFields(_ body: [UInt8]) -> [String: String]? {
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]) else { return nil }
            guard fieldNames.contains(name) else { continue }
            guard let value = percentDecode(parts.count == 2 ? parts[1] : []),
                  fields.updateValue(value, forKey: name) == nil
            else { return nil }
        }
        return fields
    }

    /// One form-encoded name or value; `nil` for a malformed `%` escape or bytes that are not
    /// UTF-8.
    private static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String? {
        PercentDecoding.decode(bytes, plusIsSpace: true, strict: true).flatMap { String(validating: $0, as: UTF8.self) }
    }

    private static func jsonFields(_ body: [UInt8]) -> [String: String]? {
        guard let object = try? JSONValue.parseObject(utf8: body) else { return nil }
        var fields: [String: String] = [:]
        for name in fieldNames {
            switch object[name] {
            case .string(let value)?: fields[name] = value
            case nil, .null?: continue
            default: return nil
            }
        }
        return fields
    }
}

private extension Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingSpaces: Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}
