import CloakroomSessions
import struct Foundation.Date

/// How the store spells things in Redis: session keys as hex, times as Unix milliseconds, and
/// the names built from the key prefix (see ``SessionScripts`` for the layout).
struct RedisKeySpace: Sendable {
    let prefix: String

    /// Pub/sub channel for revocations.
    var endingsChannel: String { prefix + "endings" }
    /// The sorted set of session deadlines.
    var expiryIndex: String { prefix + "expiries" }

    /// `SCAN MATCH` pattern for every session record under the prefix, and nothing else: glob
    /// characters in the prefix are escaped.
    var sessionPattern: String {
        var pattern = ""
        for character in prefix {
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern + "s:*"
    }

    /// The hex of a session key, from the name of its record (`P s:<hex>`), if it is one.
    func sessionHex(fromRecordName name: String) -> String? {
        let head = prefix + "s:"
        guard name.hasPrefix(head) else { return nil }
        let hex = name.dropFirst(head.count)
        guard hex.utf8.count == 64, SessionKey(hex: hex) != nil else { return nil }
        return String(hex)
    }
}

extension SessionKey {
    /// The 32 bytes in lowercase hex, as the store names sessions.
    var hex: String {
        var text = ""
        text.reserveCapacity(64)
        for byte in rawBytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return text
    }

    /// Parses 64 hex digits (either case).
    init?(hex: Substring) {
        guard hex.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for byte in hex.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        self.init(rawBytes: bytes)
    }
}

extension RESPCommandBuilder {
    /// Appends a session key as 64 hex digits, written straight into the buffer.
    mutating func append(hexOf key: SessionKey) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { out in
            Self.writeHex(of: key, into: out, at: 0)
            append(bytes: UnsafeRawBufferPointer(out))
        }
    }

    /// Appends the name of a session's record, `<prefix>s:<hex>`, as one argument.
    mutating func append(recordOf key: SessionKey, prefix: String) {
        var prefix = prefix
        prefix.withUTF8 { prefixBytes in
            let count = prefixBytes.count + 2 + 64
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { out in
                _ = out.initialize(fromContentsOf: prefixBytes)
                out[prefixBytes.count] = UInt8(ascii: "s")
                out[prefixBytes.count + 1] = UInt8(ascii: ":")
                Self.writeHex(of: key, into: out, at: prefixBytes.count + 2)
                append(bytes: UnsafeRawBufferPointer(out))
            }
        }
    }

    /// The key's 64 hex digits at `start`: the words in memory order, which is how `rawBytes`
    /// lays them out.
    private static func writeHex(of key: SessionKey, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        func put(_ word: UInt64, at offset: Int) {
            withUnsafeBytes(of: word) { bytes in
                for (i, byte) in bytes.enumerated() {
                    out[offset + 2 * i] = hexASCII[Int(byte >> 4)]
                    out[offset + 2 * i + 1] = hexASCII[Int(byte & 0x0F)]
                }
            }
        }
        put(key.w0, at: start)
        put(key.w1, at: start + 16)
        put(key.w2, at: start + 32)
        put(key.w3, at: start + 48)
    }
}

private let hexDigits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
private let hexASCII: [UInt8] = Array("0123456789abcdef".utf8)

/// Times as the store keeps them: whole Unix milliseconds, so they survive Lua's doubles and
/// read back exactly. A session's dates are whole milliseconds from creation on.
enum Milliseconds {
    static func of(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func of(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
