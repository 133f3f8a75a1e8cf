import HTTPTypes

/// Hop-by-hop header rules (RFC 9110 §7.6.1): these describe one connection and are never
/// forwarded, in either direction, together with any field named in `Connection`.
public enum HopByHop {
    /// Removes hop-by-hop fields and those named in `Connection`. Leaves `fields` untouched
    /// (no copy) when there are none, the common case. Byte-level: it runs twice per request.
    public static func remove(from fields: inout HTTPFields) {
        guard fields.contains(where: { isHopByHop($0.name.canonicalName) }) else { return }
        let extra = connectionOptions(in: fields)
        fields.removeAll { field in
            let name = field.name.canonicalName
            return isHopByHop(name) || (!extra.isEmpty && extra.contains(name))
        }
    }

    /// The field names the `Connection` fields list (lower case), less `keep-alive` and the
    /// hop-by-hop names removed anyway: empty, without allocating, when there are none.
    public static func connectionOptions(in fields: HTTPFields) -> [String] {
        var extra: [String] = []
        for field in fields where field.name == .connection {
            for token in field.value.utf8.split(separator: UInt8(ascii: ",")) {
                // `keep-alive`, nearly always, names a field removed anyway: no string made.
                if ASCIIText.equalsIgnoringCase(ASCIIText.trimmed(token), "keep-alive") { continue }
                let name = ASCIIText.trimmedLowercased(token)
                if !name.isEmpty && !isHopByHop(name) { extra.append(name) }
            }
        }
        return extra
    }

    /// Whether a field with this name (any case) is hop-by-hop: the one list, for requests and
    /// responses, typed fields and raw lines. Length first: most field names are not 2, 7, 10,
    /// 14 or 16–19 characters long. Inlinable: the server calls it per field of every head.
    @inlinable
    public static func isHopByHop<Bytes: Collection<UInt8>>(name: Bytes) -> Bool {
        switch name.count {
        case 2: return ASCIIText.equalsIgnoringCase(name, "te")
        case 7: return ASCIIText.equalsIgnoringCase(name, "trailer") || ASCIIText.equalsIgnoringCase(name, "upgrade")
        case 10: return ASCIIText.equalsIgnoringCase(name, "connection") || ASCIIText.equalsIgnoringCase(name, "keep-alive")
        // RFC 9113 §3.1 (RFC 7540 §3.2.1): it belongs to an `h2c` upgrade, which is never relayed.
        case 14: return ASCIIText.equalsIgnoringCase(name, "http2-settings")
        case 16: return ASCIIText.equalsIgnoringCase(name, "proxy-connection")
        case 17: return ASCIIText.equalsIgnoringCase(name, "transfer-encoding")
        case 18: return ASCIIText.equalsIgnoringCase(name, "proxy-authenticate")
        case 19: return ASCIIText.equalsIgnoringCase(name, "proxy-authorization")
        default: return false
        }
    }

    /// `name` is canonical (lower case).
    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isHopByHop(name: UnsafeRawBufferPointer($0)) }
    }
}

/// `X-Request-Id` rules: a client's ID is kept when it is 1–128 characters of
/// `[A-Za-z0-9._:/+=-]`; anything else is replaced by a generated one.
public enum RequestID {
    public static func isValid<S: StringProtocol>(_ id: S) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: "-"):
                continue
            default: return false
            }
        }
        return true
    }
}

