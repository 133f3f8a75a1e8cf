import CloakroomConfig
import CloakroomSessions

/// `routes[].allow`, compiled at load: who may use a route once signed in.
///
/// A session is admitted when it matches at least one rule; a rule matches when every
/// attribute it names matches; an attribute matches when it is a string equal to one of the
/// rule's values, or an array with a string element equal to one, whole and case-sensitive, `*`
/// standing for any run of characters (even none). Any other value (a number, an object, absent)
/// matches nothing. Checked on every request, after the session lookup, so a `Session-Update`
/// that removes a role takes effect on the next request.
public struct AllowPolicy: Sendable {
    struct Condition: Sendable {
        let attribute: String
        let patterns: [AttributePattern]
    }

    /// Rules of conditions; each non-empty.
    let rules: [[Condition]]

    public init(_ rules: [AllowRule]) {
        self.rules = rules.map { rule in
            rule.conditions.map { Condition(attribute: $0.attribute, patterns: $0.patterns.map(AttributePattern.init)) }
        }
    }

    public func admits(_ attributes: JSONObject) -> Bool {
        rules.contains { rule in rule.allSatisfy { Self.holds($0, in: attributes) } }
    }

    private static func holds(_ condition: Condition, in attributes: JSONObject) -> Bool {
        switch attributes[condition.attribute] {
        case .string(let value)?:
            return condition.patterns.contains { $0.matches(value) }
        case .array(let items)?:
            return items.contains { item in
                guard case .string(let value) = item else { return false }
                return condition.patterns.contains { $0.matches(value) }
            }
        default:
            return false
        }
    }
}

/// One value of an `allow` rule: a whole string, or with `*` wildcards a glob, matched on the
/// UTF-8 bytes (case-sensitive, no other special characters).
struct AttributePattern: Sendable, Equatable {
    /// The text between the stars; one part and `hasStar == false` for a plain value.
    let parts: [[UInt8]]
    let hasStar: Bool

    init(_ pattern: String) {
        hasStar = pattern.utf8.contains(UInt8(ascii: "*"))
        parts = pattern.utf8.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
    }

    func matches(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { matches(bytes: $0) }
    }

    /// Anchored at both ends: the first part is a prefix, the last a suffix, and the middle
    /// ones appear in order between them, each taken at its first occurrence (which leaves the
    /// most room for the rest, so the greedy search is exact).
    private func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard hasStar else { return bytes.elementsEqual(parts[0]) }
        let first = parts[0], last = parts[parts.count - 1]
        guard bytes.count >= first.count + last.count, bytes.starts(with: first), bytes.reversed().starts(with: last.reversed())
        else { return false }
        var position = first.count
        let end = bytes.count - last.count
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = Self.find(part, in: bytes, from: position, to: end) else { return false }
            position = found + part.count
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int? {
        guard end - start >= needle.count else { return nil }
        for offset in start...(end - needle.count) where haystack[offset] == needle[0] {
            if haystack[offset..<(offset + needle.count)].elementsEqual(needle) { return offset }
        }
        return nil
    }
}
