/// The path part of a request target, normalized for routing.
///
/// Routing and forwarding use the same normalized path, so what was authorized is exactly what
/// the backend receives (RFC 3986 §6.2.2): percent-encoded unreserved characters are decoded
/// (`/%61dmin` is `/admin`), dot-segments resolved (also encoded ones, `%2e%2e`) and repeated
/// slashes collapsed. Targets a backend could resolve differently from us are rejected: one
/// that climbs above the root, an encoded slash or backslash (`%2F`, `%5C`), a raw backslash,
/// a broken escape, or a dot-segment carrying matrix parameters (`..;x`).
public struct RequestPath: Sendable, Equatable {
    /// Starts with `/`.
    public var path: Substring
    /// Without the `?`; `nil` when the target has no query.
    public var query: Substring?

    /// `nil` for a target that is not in origin form (`/...`) or that is rejected (see above).
    public init?(target: String) {
        guard target.utf8.first == UInt8(ascii: "/") else { return nil }
        let rawPath: Substring
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = target[..<q]
            query = target[target.utf8.index(after: q)...]
        } else {
            rawPath = target[...]
            query = nil
        }
        if !Self.needsNormalizing(rawPath) {
            path = rawPath
            return
        }
        guard let normalized = Self.normalize(rawPath) else { return nil }
        path = normalized[...]
    }

    /// The target to send upstream.
    public var target: String {
        guard let query else { return String(path) }
        return "\(path)?\(query)"
    }

    /// Fast check on the hot path: most paths have no `//`, no dot-segment, no escape and no
    /// backslash, and are used as they are.
    private static func needsNormalizing(_ path: Substring) -> Bool {
        var previous: UInt8 = 0
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "\\"): return true
            case UInt8(ascii: "/") where previous == UInt8(ascii: "/"): return true
            case UInt8(ascii: ".") where previous == UInt8(ascii: "/"): return true
            default: previous = byte
            }
        }
        return false
    }

    private static func normalize(_ path: Substring) -> String? {
        var output: [String] = []
        var endsAsDirectory = path.utf8.last == UInt8(ascii: "/")
        for segment in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            guard let decoded = decodeUnreserved(segment) else { return nil }
            endsAsDirectory = false
            switch decoded {
            case ".":
                endsAsDirectory = true
            case "..":
                if output.isEmpty { return nil }
                output.removeLast()
                endsAsDirectory = true
            default:
                if decoded.hasPrefix("..;") || decoded.hasPrefix(".;") { return nil }
                output.append(decoded)
            }
        }
        if path.utf8.last == UInt8(ascii: "/") { endsAsDirectory = true }
        var result = "/" + output.joined(separator: "/")
        if endsAsDirectory && !output.isEmpty { result += "/" }
        return result
    }

    /// Decodes `%XX` escapes of unreserved characters; other escapes stay, upper-cased.
    /// `nil` for a broken escape, an encoded `/` or `\`, or a raw `\`.
    private static func decodeUnreserved(_ segment: Substring.UTF8View.SubSequence) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.count)
        var index = segment.startIndex
        while index < segment.endIndex {
            let byte = segment[index]
            if byte == UInt8(ascii: "\\") { return nil }
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                index = segment.index(after: index)
                continue
            }
            let first = segment.index(after: index)
            guard first < segment.endIndex else { return nil }
            let second = segment.index(after: first)
            guard second < segment.endIndex, let high = hexValue(segment[first]), let low = hexValue(segment[second]) else {
                return nil
            }
            let value = high << 4 | low
            if value == UInt8(ascii: "/") || value == UInt8(ascii: "\\") { return nil }
            if isUnreserved(value) {
                bytes.append(value)
            } else {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hexDigit(high))
                bytes.append(hexDigit(low))
            }
            index = segment.index(after: second)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }
}
