import HTTPTypes

/// Hop-by-hop header rules (RFC 9110 §7.6.1): these describe one connection and are never
/// forwarded, in either direction, together with any field named in `Connection`.
public enum HopByHop {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes hop-by-hop fields and those named in `Connection`.
    public static func remove(from fields: inout HTTPFields) {
        var extra: Set<String> = []
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") {
                let name = token.trimmingCharacters(in: .whitespaces).lowercased()
                if !name.isEmpty { extra.insert(name) }
            }
        }
        fields.removeAll { field in
            let name = field.name.canonicalName
            return names.contains(name) || (!extra.isEmpty && extra.contains(name))
        }
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

import Foundation
