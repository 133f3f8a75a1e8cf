/// Byte-level helpers for header tokens (field names, `Connection` options, media ranges),
/// which are ASCII: no Foundation, no Unicode case mapping, nothing allocated to compare.
public enum ASCIIText {
    /// Whether `byte` is a space or a tab.
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    /// `bytes` without surrounding spaces and tabs.
    public static func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else {
            return bytes[bytes.endIndex...]
        }
        return bytes[first...last]
    }

    /// `bytes` without surrounding spaces and tabs, in ASCII lower case.
    public static func trimmedLowercased(_ bytes: Substring.UTF8View) -> String {
        String(decoding: trimmed(bytes).lazy.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Whether `bytes` spell `lowercase` in any ASCII case (`lowercase` must be lower case).
    /// Inlinable: the server calls it per request field, and unspecialized it would go through
    /// `Collection`'s witness table for every byte.
    @inlinable
    public static func equalsIgnoringCase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        var i = 0
        for byte in bytes {
            let folded = byte >= 65 && byte <= 90 ? byte + 32 : byte
            guard folded == lowercase.utf8Start[i] else { return false }
            i += 1
        }
        return true
    }

    /// ``equalsIgnoringCase(_:_:)`` against a lower-case `String` (a `Connection` option).
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, lowercase: String) -> Bool {
        guard bytes.count == lowercase.utf8.count else { return false }
        for (byte, expected) in zip(bytes, lowercase.utf8) where (byte >= 65 && byte <= 90 ? byte + 32 : byte) != expected {
            return false
        }
        return true
    }
}
