/// RFC 9113 §8.2–8.3 for the fields of a header block, checked in Cloakroom's own pass over
/// it: NIO's header-block validation is off (``HTTP2Pipeline``), since it walked every block a
/// second time, in both directions, for about a tenth of an HTTP/2 request's CPU.
///
/// What a field must be (§8.2): a lower-case token for a name, no NUL, CR, LF or other control
/// character but HTAB in a value and no SP or HTAB at its ends (§8.2.1); no connection-specific field and no `te` other than
/// `trailers` (§8.2.2). Pseudo-header fields (§8.3) are the caller's: which exist, once each,
/// before every regular field, and none in trailers.
enum HTTP2FieldRules {
    /// Why a regular field makes its block malformed, or `nil`.
    static func problem(name: String, value: String) -> String? {
        let nameBytes = name.utf8
        guard !nameBytes.isEmpty else { return "empty field name" }
        // One pass over contiguous bytes each (every decoded field is a native string).
        let nameIsToken =
            nameBytes.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy(isLowercaseTokenByte) }
            ?? nameBytes.allSatisfy(isLowercaseTokenByte)
        guard nameIsToken else { return "field name \(name) is not a lower-case token" }
        let valueBytes = value.utf8
        if let first = valueBytes.first, let last = valueBytes.last {
            if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 {
                return "leading or trailing whitespace in the value of \(name)"
            }
            let valueIsClean =
                valueBytes.withContiguousStorageIfAvailable { bytes in !bytes.contains(where: isControlByte) }
                ?? !valueBytes.contains(where: isControlByte)
            guard valueIsClean else { return "a control character in the value of \(name)" }
        }
        switch nameBytes.count {
        case 2 where name == "te":
            return value == "trailers" ? nil : "te other than trailers"
        case 7 where name == "upgrade", 10 where name == "connection" || name == "keep-alive", 16 where name == "proxy-connection",
            17 where name == "transfer-encoding":
            return "connection-specific field \(name)"
        default:
            return nil
        }
    }

    /// A `:path` value: visible ASCII only (no spaces, controls or raw non-ASCII bytes), and no
    /// fragment (`#`, RFC 9113 §8.3.1): a backend that cuts the path there would serve another
    /// resource than the route the proxy matched.
    static func isPath(_ path: String) -> Bool {
        !path.isEmpty && path.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }
    }

    /// Why a trailer block is malformed, or `nil`.
    static func trailerProblem(_ fields: some Sequence<(String, String)>) -> String? {
        for (name, value) in fields {
            if name.utf8.first == UInt8(ascii: ":") { return "pseudo-header field \(name) in trailers" }
            if let problem = problem(name: name, value: value) { return problem }
        }
        return nil
    }

    /// NUL, CR and LF (RFC 9113 §8.2.1), and every other control character but HTAB: RFC 9110
    /// §5.5 has no place for them in a field value, and the HTTP/1.1 server refuses them too,
    /// so a request is judged alike on both protocols.
    @inline(__always)
    private static func isControlByte(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09) || byte == 0x7F
    }

    /// RFC 9110 §5.6.2 `tchar`, upper-case letters excluded (RFC 9113 §8.2.1).
    @inline(__always)
    static func isLowercaseTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "#"),
            UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
