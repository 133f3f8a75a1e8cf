import Glibc
import HTTPTypes

/// Field names as parsed from the wire. A name spelled exactly like a common one (`Host`,
/// `Cookie`, `content-type`, ...) reuses a prebuilt ``HTTPField/Name`` instead of making two
/// strings (raw and lower-cased) for it; any other name is validated and made as usual.
enum FieldNames {
    private struct Known {
        let bytes: [UInt8]
        let name: HTTPField.Name
    }

    /// By length; a handful of candidates each.
    private static let byLength: [[Known]] = {
        let spellings = [
            "Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection", "Cookie",
            "Content-Length", "Content-Type", "Cache-Control", "Authorization", "Referer", "Origin", "Upgrade",
            "Transfer-Encoding", "Keep-Alive", "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto",
            "X-Forwarded-Host", "X-Real-IP", "X-User-Id", "Expect", "If-None-Match", "If-Modified-Since", "Pragma",
            "Date", "Server", "Set-Cookie", "Location", "ETag", "Last-Modified", "Vary", "Content-Encoding",
            "Expires", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Upgrade-Insecure-Requests",
            "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Accept", "Session-Login",
        ]
        var table = [[Known]](repeating: [], count: 32)
        for spelling in spellings {
            for variant in [spelling, spelling.lowercased()] where variant.utf8.count < table.count {
                guard !table[variant.utf8.count].contains(where: { $0.bytes == Array(variant.utf8) }) else { continue }
                table[variant.utf8.count].append(Known(bytes: Array(variant.utf8), name: HTTPField.Name(variant)!))
            }
        }
        return table
    }()

    /// `bytes` are already known to be a token (non-empty, `tchar` only).
    static func name(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name {
        if bytes.count < byLength.count {
            for known in byLength[bytes.count] {
                let equal = known.bytes.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
                if equal { return known.name }
            }
        }
        // A token is always a valid field name.
        return HTTPField.Name(String(decoding: bytes, as: UTF8.self))!
    }
}
