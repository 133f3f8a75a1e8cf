/// The path part of a request target, normalized for routing.
///
/// Routing and forwarding use the same normalized path, so what was authorized is exactly what
/// the backend receives: dot-segments (also percent-encoded, `%2e`) are resolved and repeated
/// slashes collapsed. A path that climbs above the root is rejected.
public struct RequestPath: Sendable, Equatable {
    /// Starts with `/`.
    public var path: Substring
    /// Without the `?`; `nil` when the target has no query.
    public var query: Substring?

    /// `nil` for a target that is not in origin form (`/...`) or climbs above the root.
    public init?(target: String) {
        let bytes = target.utf8
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        let (rawPath, query): (Substring, Substring?)
        if let q = target.firstIndex(of: "?") {
            rawPath = target[..<q]
            query = target[target.index(after: q)...]
        } else {
            rawPath = target[...]
            query = nil
        }
        self.query = query
        if !Self.needsNormalizing(rawPath) {
            self.path = rawPath
            return
        }
        guard let normalized = Self.normalize(rawPath) else { return nil }
        self.path = normalized[...]
    }

    /// The target to send upstream.
    public var target: String {
        guard let query else { return String(path) }
        return "\(path)?\(query)"
    }

    /// Fast check on the hot path: most paths have no `//`, no dot-segment and no `%2e`.
    private static func needsNormalizing(_ path: Substring) -> Bool {
        var previous: UInt8 = 0
        var sawPercent = false
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/") && previous == UInt8(ascii: "/") { return true }
            if byte == UInt8(ascii: ".") && previous == UInt8(ascii: "/") { return true }
            if byte == UInt8(ascii: "%") { sawPercent = true }
            previous = byte
        }
        return sawPercent && path.lowercased().contains("%2e")
    }

    private static func normalize(_ path: Substring) -> String? {
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        for segment in segments {
            let decoded = segment.replacingOccurrences(of: "%2e", with: ".", options: .caseInsensitive)
            switch decoded {
            case ".": continue
            case "..":
                if output.isEmpty { return nil }
                output.removeLast()
            default: output.append(segment)
            }
        }
        let trailingSlash = path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/..")
        var result = "/" + output.joined(separator: "/")
        if trailingSlash && !output.isEmpty { result += "/" }
        return result
    }
}

import Foundation
