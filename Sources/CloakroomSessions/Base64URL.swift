import protocol Foundation.ContiguousBytes

/// Unpadded base64url (RFC 4648 §5) over raw buffers, for cookies and handles.
///
/// Written by hand rather than through Foundation so the cookie hot path does not round-trip
/// through `Data` or allocate intermediate strings. Decoding is strict: only the 64 alphabet
/// characters, no padding, no whitespace, and the unused low bits of the last character must be
/// zero, so every byte string has exactly one accepted spelling.
enum Base64URL {
    /// Characters needed for `byteCount` bytes without padding.
    static func encodedCount(byteCount: Int) -> Int {
        (byteCount * 4 + 2) / 3
    }

    /// Writes the encoding of `bytes` to the start of `out`, which must hold
    /// `encodedCount(byteCount: bytes.count)` bytes. Returns the number of bytes written.
    @discardableResult
    static func encode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(out.count >= encodedCount(byteCount: bytes.count), "base64url output buffer too small")
        var written = 0
        var index = 0
        let count = bytes.count
        while index + 3 <= count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out[written] = symbol(chunk >> 18)
            out[written + 1] = symbol(chunk >> 12)
            out[written + 2] = symbol(chunk >> 6)
            out[written + 3] = symbol(chunk)
            written += 4
            index += 3
        }
        switch count - index {
        case 1:
            let chunk = UInt32(bytes[index]) << 16
            out[written] = symbol(chunk >> 18)
            out[written + 1] = symbol(chunk >> 12)
            written += 2
        case 2:
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out[written] = symbol(chunk >> 18)
            out[written + 1] = symbol(chunk >> 12)
            out[written + 2] = symbol(chunk >> 6)
            written += 3
        default:
            break
        }
        return written
    }

    /// The encoding of `bytes` as a `String`.
    static func encode(_ bytes: some ContiguousBytes) -> String {
        bytes.withUnsafeBytes { raw in
            let length = encodedCount(byteCount: raw.count)
            return String(unsafeUninitializedCapacity: length) { out in
                encode(raw, into: out)
            }
        }
    }

    /// Decodes `text` into `out`, which must be exactly as long as the decoded bytes. Returns
    /// `false` (with `out` in an unspecified state) when `text` is not the canonical unpadded
    /// base64url spelling of exactly `out.count` bytes.
    static func decode(_ text: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard text.count == encodedCount(byteCount: out.count) else { return false }
        var read = 0
        var written = 0
        while read + 4 <= text.count {
            guard let a = value(of: text[read]), let b = value(of: text[read + 1]),
                  let c = value(of: text[read + 2]), let d = value(of: text[read + 3]) else { return false }
            let chunk = a << 18 | b << 12 | c << 6 | d
            out[written] = UInt8(truncatingIfNeeded: chunk >> 16)
            out[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
            out[written + 2] = UInt8(truncatingIfNeeded: chunk)
            read += 4
            written += 3
        }
        switch text.count - read {
        case 2:
            guard let a = value(of: text[read]), let b = value(of: text[read + 1]) else { return false }
            let chunk = a << 18 | b << 12
            guard chunk & 0xFFFF == 0 else { return false }
            out[written] = UInt8(truncatingIfNeeded: chunk >> 16)
        case 3:
            guard let a = value(of: text[read]), let b = value(of: text[read + 1]),
                  let c = value(of: text[read + 2]) else { return false }
            let chunk = a << 18 | b << 12 | c << 6
            guard chunk & 0xFF == 0 else { return false }
            out[written] = UInt8(truncatingIfNeeded: chunk >> 16)
            out[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
        default:
            break
        }
        return true
    }

    /// Decodes `text` to bytes, or `nil` unless it is canonical unpadded base64url of
    /// exactly `byteCount` bytes.
    static func decode(_ text: Substring, byteCount: Int) -> [UInt8]? {
        var utf8 = text
        return utf8.withUTF8 { chars in
            var result = [UInt8](repeating: 0, count: byteCount)
            let ok = result.withUnsafeMutableBytes { decode(chars, into: $0) }
            return ok ? result : nil
        }
    }

    @inline(__always)
    private static func symbol(_ sixBits: UInt32) -> UInt8 {
        let v = UInt8(truncatingIfNeeded: sixBits & 0x3F)
        switch v {
        case 0..<26: return v + UInt8(ascii: "A")
        case 26..<52: return v - 26 + UInt8(ascii: "a")
        case 52..<62: return v - 52 + UInt8(ascii: "0")
        case 62: return UInt8(ascii: "-")
        default: return UInt8(ascii: "_")
        }
    }

    @inline(__always)
    private static func value(of char: UInt8) -> UInt32? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(char - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(char - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(char - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}
