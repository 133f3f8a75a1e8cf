/// The path part of a request target, normalized for routing.
///
/// Routing and forwarding use the same normalized path, so what was authorized is exactly what
/// the backend receives (RFC 3986 §6.2.2): every character has one spelling, so two spellings a
/// backend decodes alike cannot be routed apart (found by an audit: `/v1/things%3Apurge`
/// skipped the route `/v1/things:purge` and its `allow`):
/// - characters a path may hold as they are, the unreserved ones and `: @ ! $ & ' ( ) * + , =`,
///   are decoded (`/%61dmin` is `/admin`, `%3A` is `:`);
/// - `;` keeps its two spellings apart: raw, it starts a segment's parameters (below); `%3B` is
///   a character of the name, as servers read it;
/// - anything else is percent-encoded, upper-case: escapes stay (`%3F`, `%25`), and characters
///   a path may not hold raw are encoded (`|` is `%7C`, as `%7c` is).
///
/// Dot-segments are resolved (also encoded ones, `%2e%2e`) and repeated slashes collapsed.
/// Targets a backend could resolve differently from us are rejected: one that climbs above the
/// root, an encoded slash or backslash (`%2F`, `%5C`), an encoded NUL, a raw backslash, a broken
/// escape, escapes that do not decode to UTF-8 (overlong `%C0%AE`, which lenient decoders read
/// as `.`, surrogates, `%FF`: found by an audit), or a dot-segment carrying matrix parameters
/// (`..;x`).
///
/// A segment's parameters (`/admin;jsessionid=x/secret`) are forwarded, but not routed on:
/// ``routingPath`` leaves them out, as servers that read them do (Tomcat, Jetty, Spring see
/// `/admin/secret`), so such a request meets the route of `/admin/`, not a weaker later one.
public struct RequestPath: Sendable, Equatable {
    /// Starts with `/`.
    public var path: Substring
    /// Without the `?`; `nil` when the target has no query.
    public var query: Substring?
    /// ``path`` without the parameters of its segments (`;` to the segment's end): what routes
    /// are matched against. The same as ``path`` when it has no `;`.
    public var routingPath: Substring

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
        } else {
            guard let normalized = Self.normalize(rawPath) else { return nil }
            path = normalized[...]
        }
        routingPath = path.utf8.contains(UInt8(ascii: ";")) ? Self.withoutParameters(path)[...] : path
    }

    /// `path` with each segment's `;...` left out (`/a;x/b;y=1` is `/a/b`).
    static func withoutParameters(_ path: Substring) -> String {
        var result = ""
        var inParameters = false
        for scalar in path.unicodeScalars {
            if scalar == "/" {
                inParameters = false
            } else if scalar == ";" {
                inParameters = true
            }
            if !inParameters { result.unicodeScalars.append(scalar) }
        }
        return result
    }

    /// The target to send upstream.
    public var target: String {
        guard let query else { return String(path) }
        return "\(path)?\(query)"
    }

    /// Fast check on the hot path: most paths have no `//`, no dot-segment, no escape, no
    /// backslash and no character to encode, and are used as they are.
    private static func needsNormalizing(_ path: Substring) -> Bool {
        var previous: UInt8 = 0
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "\\"): return true
            case _ where !isPathCharacter(byte) && byte != UInt8(ascii: ";") && byte != UInt8(ascii: "/"): return true
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

    /// Decodes `%XX` escapes of the characters a path holds raw, encodes the characters it may
    /// not hold raw; other escapes stay, upper-cased. `nil` for a broken escape, an encoded
    /// `/`, `\` or NUL, a raw `\`, or escapes whose octets are not UTF-8.
    private static func decodeUnreserved(_ segment: Substring.UTF8View.SubSequence) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.count)
        // Every octet the segment stands for, kept only once an escape above 0x7F is seen
        // (raw bytes above it never reach here: the request line refused them).
        var octets: [UInt8]?
        var index = segment.startIndex
        while index < segment.endIndex {
            let byte = segment[index]
            if byte == UInt8(ascii: "\\") { return nil }
            guard byte == UInt8(ascii: "%") else {
                octets?.append(byte)
                if isPathCharacter(byte) || byte == UInt8(ascii: ";") {
                    bytes.append(byte)
                } else {
                    // A character a path may not hold raw (`|`, `"`, `{`...): its escape.
                    bytes.append(UInt8(ascii: "%"))
                    bytes.append(hexDigit(byte >> 4))
                    bytes.append(hexDigit(byte & 0x0F))
                }
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
            if value == UInt8(ascii: "/") || value == UInt8(ascii: "\\") || value == 0 { return nil }
            if value > 0x7F, octets == nil { octets = Self.octets(of: segment[..<index]) }
            octets?.append(value)
            if isPathCharacter(value) {
                bytes.append(value)
            } else {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hexDigit(high))
                bytes.append(hexDigit(low))
            }
            index = segment.index(after: second)
        }
        if let octets, String(validating: octets, as: UTF8.self) == nil { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The octets of an already checked part of a segment, its escapes decoded.
    private static func octets(of part: Substring.UTF8View.SubSequence) -> [UInt8] {
        var result: [UInt8] = []
        var index = part.startIndex
        while index < part.endIndex {
            if part[index] == UInt8(ascii: "%"), let high = hexValue(part[part.index(after: index)]),
                let low = hexValue(part[part.index(index, offsetBy: 2)])
            {
                result.append(high << 4 | low)
                index = part.index(index, offsetBy: 3)
            } else {
                result.append(part[index])
                index = part.index(after: index)
            }
        }
        return result
    }

    /// RFC 3986 `pchar` without `%` and `;`: the unreserved characters, the sub-delimiters
    /// other than `;`, `:` and `@`. Written raw in the normalized path.
    static func isPathCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
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
