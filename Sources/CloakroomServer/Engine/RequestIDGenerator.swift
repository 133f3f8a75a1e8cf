/// Request IDs for one client connection (shared by the streams of an HTTP/2 connection): a
/// random prefix plus a counter, so generating one costs no system call and IDs stay unique
/// across connections and restarts.
///
/// - Important: Used only on its connection's event loop.
final class RequestIDGenerator {
    private let prefix: UInt64
    private var counter: UInt64 = 0

    init() {
        prefix = UInt64.random(in: .min ... .max)
    }

    /// 15 characters of the URL-safe base64 alphabet: 9 for 54 random bits fixed per
    /// connection, then 6 for a 36-bit counter. Fifteen bytes is what a Swift string holds
    /// inline: no allocation, and copies of the ID (exchange, header, log) are not counted.
    func next() -> String {
        counter &+= 1
        let prefix = self.prefix, counter = self.counter
        return String(unsafeUninitializedCapacity: 15) { buffer in
            let digits: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
            for i in 0..<9 {
                buffer[i] = digits.utf8Start[Int((prefix >> UInt64(6 * (8 - i))) & 0x3F)]
            }
            for i in 0..<6 {
                buffer[9 + i] = digits.utf8Start[Int((counter >> UInt64(6 * (5 - i))) & 0x3F)]
            }
            return 15
        }
    }
}
