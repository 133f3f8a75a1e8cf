/// Admin handles: non-secret, random identifiers for sessions, used to list and revoke them.
///
/// A handle is 96 bits from the system CSPRNG, spelled as 16 characters of unpadded base64url.
/// It is unrelated to the session ID and its key, so knowing one never helps to build a cookie.
public enum SessionHandle {
    /// Raw bytes in a handle.
    public static let byteCount = 12
    /// Characters in a handle's text.
    public static let textLength = 16

    /// A fresh handle.
    public static func random() -> String {
        Bits.random().text
    }

    /// Whether `text` is spelled like a handle (it may still name no session).
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        Bits(text: Substring(text)) != nil
    }

    /// A handle's 12 bytes as two words: what stores keep and index instead of a `String`
    /// (16 characters do not fit a small string, so a `String` would cost a heap allocation).
    struct Bits: Hashable, Sendable {
        var high: UInt64
        var low: UInt32

        static func random() -> Bits {
            var generator = SystemRandomNumberGenerator()
            return Bits(high: generator.next(), low: generator.next())
        }

        init(high: UInt64, low: UInt32) {
            self.high = high
            self.low = low
        }

        /// Parses a handle's text; `nil` unless it is canonical base64url of 12 bytes.
        init?(text: Substring) {
            guard let bytes = Base64URL.decode(text, byteCount: SessionHandle.byteCount) else { return nil }
            var high: UInt64 = 0
            for byte in bytes[0..<8] { high = high << 8 | UInt64(byte) }
            var low: UInt32 = 0
            for byte in bytes[8..<12] { low = low << 8 | UInt32(byte) }
            self.init(high: high, low: low)
        }

        var text: String {
            var bytes = [UInt8](repeating: 0, count: SessionHandle.byteCount)
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
            for i in 0..<4 { bytes[8 + i] = UInt8(truncatingIfNeeded: low >> (24 - 8 * UInt32(i))) }
            return Base64URL.encode(bytes)
        }
    }
}
