import CloakroomConfig
import CloakroomSessions
import HTTPTypes

/// Strips client-sent identity headers and injects the session's identity, compiled once from
/// `identity` so the per-request work is a scan over the request's fields and a few appends.
///
/// Strip always happens before inject: a client can never smuggle an identity header, whatever
/// its case or its separators (`X_User_Id`, `X.User.Id`, `x~user!id`), because names are
/// compared after folding (``FoldedName``: lower case, every byte that is not a letter or a
/// digit as `-`), configured names and patterns the same way.
public struct IdentityHeaders: Sendable {
    struct Injection: Sendable {
        let name: HTTPField.Name
        let attribute: String
    }

    private let injections: [Injection]
    /// Folded names (``FoldedName``) removed outright.
    private let strippedNames: [[UInt8]]
    /// Folded glob patterns (``FoldedName/foldPattern(_:)``); `*` matches any run of characters.
    private let strippedPatterns: [GlobPattern]

    public init(_ settings: IdentitySettings) {
        injections = settings.headers.compactMap { mapping in
            HTTPField.Name(mapping.header).map { Injection(name: $0, attribute: mapping.attribute) }
        }
        strippedNames = settings.headers.map { FoldedName.fold($0.header) }
        strippedPatterns = settings.strip.map { GlobPattern(FoldedName.foldPattern($0)) }
    }

    /// Whether a client header with this name must be removed.
    public func isStripped(_ name: HTTPField.Name) -> Bool {
        var canonical = name.canonicalName
        return canonical.withUTF8 { FoldedName.with(UnsafeRawBufferPointer($0)) { isStripped(folded: $0) } }
    }

    /// ``isStripped(_:)`` for a name already folded. Byte-level: it runs for every field of
    /// every request.
    func isStripped(folded name: UnsafeRawBufferPointer) -> Bool {
        for stripped in strippedNames where stripped.count == name.count {
            if stripped.withUnsafeBytes({ $0.elementsEqual(name) }) { return true }
        }
        for pattern in strippedPatterns where pattern.matches(name) { return true }
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
    /// ``fields`` as HTTP/1.1 lines (``UpstreamAdditions/identityLines``).
    var lines: [UInt8] = []
    /// The identity assertions last made on this connection.
    public let assertion = AssertionMemo()

    public init() {}
}

/// A header-name glob, on folded bytes: literal bytes and `*` (any run, possibly empty).
struct GlobPattern: Sendable {
    private let parts: [[UInt8]]

    init(_ pattern: [UInt8]) {
        parts = pattern.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
    }

    /// Parts in order: the first anchored at the start, the last at the end, those between
    /// found leftmost (which never misses a match, each `*` taking the shortest run it can).
    func matches(_ text: UnsafeRawBufferPointer) -> Bool {
        guard parts.count > 1 else { return text.elementsEqual(parts[0]) }
        let first = parts[0], last = parts[parts.count - 1]
        guard text.count >= first.count + last.count, text.starts(with: first),
            text[(text.count - last.count)...].elementsEqual(last)
        else { return false }
        var rest = text[first.count..<(text.count - last.count)]
        for part in parts[1..<(parts.count - 1)] where !part.isEmpty {
            guard let start = Self.firstRange(of: part, in: rest) else { return false }
            rest = rest[(start + part.count)...]
        }
        return true
    }

    /// Where `part` first occurs in `text`, as an index of `text`.
    private static func firstRange(of part: [UInt8], in text: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard part.count <= text.count else { return nil }
        var start = text.startIndex
        while start + part.count <= text.endIndex {
            if text[start..<(start + part.count)].elementsEqual(part) { return start }
            start += 1
        }
        return nil
    }
}
