import CloakroomConfig
import CloakroomSessions
import HTTPTypes

/// Strips client-sent identity headers and injects the session's identity, compiled once from
/// `identity` so the per-request work is a scan over the request's fields and a few appends.
///
/// Strip always happens before inject: a client can never smuggle an identity header, whatever
/// its case or its underscore spelling (`X_User_Id`), because names are compared after folding
/// to lower case and `_` to `-`.
public struct IdentityHeaders: Sendable {
    struct Injection: Sendable {
        let name: HTTPField.Name
        let attribute: String
    }

    private let injections: [Injection]
    /// Folded names (lower case, `-` for `_`) removed outright.
    private let strippedNames: Set<String>
    /// Folded glob patterns; `*` matches any run of characters.
    private let strippedPatterns: [GlobPattern]

    public init(_ settings: IdentitySettings) {
        injections = settings.headers.compactMap { mapping in
            HTTPField.Name(mapping.header).map { Injection(name: $0, attribute: mapping.attribute) }
        }
        strippedNames = Set(settings.headers.map { Self.fold($0.header) })
        strippedPatterns = settings.strip.map { GlobPattern(Self.fold($0)) }
    }

    /// Lower case, `_` → `-`.
    static func fold(_ name: String) -> String {
        String(decoding: name.utf8.map { byte -> UInt8 in
            if byte == UInt8(ascii: "_") { return UInt8(ascii: "-") }
            if byte >= 65 && byte <= 90 { return byte + 32 }
            return byte
        }, as: UTF8.self)
    }

    /// A field name folded for comparison: lower case (already canonical), `_` as `-`.
    static func folded(_ name: HTTPField.Name) -> String {
        let canonical = name.canonicalName
        return canonical.utf8.contains(UInt8(ascii: "_")) ? fold(canonical) : canonical
    }

    /// Whether a client header with this name must be removed.
    public func isStripped(_ name: HTTPField.Name) -> Bool {
        isStripped(folded: Self.folded(name))
    }

    /// ``isStripped(_:)`` for a name already folded.
    func isStripped(folded: String) -> Bool {
        if strippedNames.contains(folded) { return true }
        for pattern in strippedPatterns where pattern.matches(folded) { return true }
        return false
    }

    /// How many fields ``inject(_:into:)`` adds at most.
    public var injectionCount: Int { injections.count }

    /// Removes every identity header the client sent.
    public func strip(_ fields: inout HTTPFields) {
        fields.removeAll { isStripped($0.name) }
    }

    /// Sets the configured headers from the session's attributes; an absent or null attribute
    /// leaves its header absent. Call after ``strip(_:)``.
    public func inject(_ attributes: JSONObject, into fields: inout HTTPFields) {
        fields.append(contentsOf: self.fields(for: attributes))
    }

    /// The identity fields for `attributes`, in the configured order.
    func fields(for attributes: JSONObject) -> [HTTPField] {
        var fields: [HTTPField] = []
        fields.reserveCapacity(injections.count)
        for injection in injections {
            if let value = attributes[injection.attribute]?.headerValue {
                fields.append(HTTPField(name: injection.name, value: value))
            }
        }
        return fields
    }
}

/// The identity fields last injected on one connection (or the streams of one HTTP/2
/// connection: one event loop), reused while the session's attributes are unchanged. The
/// stores' attributes cache hands back the same dictionary while a session's stored bytes are
/// unchanged, and comparing a dictionary with itself returns at once; any other dictionary is
/// compared in full, so a stale entry is never used.
public final class InjectionMemo {
    var owner: ObjectIdentifier?
    var attributes: JSONObject = [:]
    var fields: [HTTPField] = []

    public init() {}
}

/// A header-name glob: literal characters and `*` (any run, possibly empty).
struct GlobPattern: Sendable {
    private let parts: [String]
    private let anchoredStart: Bool
    private let anchoredEnd: Bool

    init(_ pattern: String) {
        parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        anchoredStart = !pattern.hasPrefix("*")
        anchoredEnd = !pattern.hasSuffix("*")
    }

    func matches(_ text: String) -> Bool {
        if parts.count == 1 { return text == parts[0] }
        var rest = Substring(text)
        for (i, part) in parts.enumerated() where !part.isEmpty {
            if i == 0 && anchoredStart {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if i == parts.count - 1 && anchoredEnd {
                return rest.hasSuffix(part)
            } else {
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
        }
        return true
    }
}

import Foundation
