import CloakroomConfig

/// The request's authority (`Host` in HTTP/1.1, `:authority` or `host` in HTTP/2) checked
/// against RFC 3986 §3.2.2–3.2.3 before anything routes on it or forwards it: RFC 9112 §3.2
/// answers an invalid `Host` 400, RFC 9113 §8.3.1 makes an invalid `:authority` malformed.
///
/// `host [ ":" port ]`: an IPv6 address in brackets, or a reg-name / IPv4 address (unreserved,
/// sub-delims) without empty labels (`.example.com`, `a..example.com`: no name has them, and
/// a wildcard route must never match one), an optional trailing dot; the port digits only. No
/// userinfo (`@`), no path, no spaces.
///
/// Stricter than RFC 3986 where a backend could read the host differently than routing did
/// (found by an audit): brackets hold an IPv6 address only (not a name: Go's `SplitHostPort`
/// and Ruby's `URI#hostname` take `[admin.example.com]` for `admin.example.com`, which no
/// host route matched; nor IPvFuture, which nothing sends), and no `%`-escapes in a name
/// (`admin.example.co%6d`; names are ASCII, RFC 9110 §4.2.3 via IDNA A-labels).
enum RequestAuthority {
    static func isValid(_ authority: String) -> Bool {
        let utf8 = authority.utf8
        guard let first = utf8.first else { return false }
        var host = utf8[...], port = utf8[utf8.endIndex...]
        if first == UInt8(ascii: "[") {
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = authority[authority.index(after: authority.startIndex)..<close]
            guard literal.contains(":"), IPAddress(literal) != nil else { return false }
            let rest = utf8[utf8.index(after: close)...]
            guard rest.isEmpty || rest.first == UInt8(ascii: ":") else { return false }
            return rest.dropFirst().allSatisfy(isDigit)
        }
        if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) {
            host = utf8[..<colon]
            port = utf8[utf8.index(after: colon)...]
        }
        guard port.allSatisfy(isDigit), !host.isEmpty, host.allSatisfy(isRegNameByte) else { return false }
        // Labels: none empty, but for the root's trailing dot.
        var previous = UInt8(ascii: ".")
        for byte in host {
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: ".") { return false }
            previous = byte
        }
        return true
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// unreserved and sub-delims (RFC 3986 §3.2.2 reg-name, without pct-encoded).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
            UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
