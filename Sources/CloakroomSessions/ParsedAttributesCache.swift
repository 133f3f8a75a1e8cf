#if canImport(Glibc)
import Glibc
#endif

/// The attributes of the last session a connection looked up, kept parsed so that the next
/// request on that connection skips parsing them again while the stored bytes stay the same (a
/// keep-alive connection nearly always carries one user's cookie). Compared by content, never
/// by key alone: after an update, or for another session, the bytes differ and are parsed
/// afresh.
///
/// The handle's text is kept the same way, keyed by the handle's bits.
///
/// - Important: Not thread-safe: one per connection, used on its event loop.
public final class ParsedAttributesCache {
    private var bytes: [UInt8] = []
    private var object: JSONObject?
    private var handle: (bits: SessionHandle.Bits, text: String)?

    public init() {}

    /// The parsed form of `bytes`: the cached one when they equal the last bytes seen (an
    /// identity check when both arrays share the store's storage), else `parse()`.
    func object(for bytes: [UInt8], parse: () throws -> JSONObject) rethrows -> JSONObject {
        if let object, bytes == self.bytes { return object }
        let parsed = try parse()
        self.bytes = bytes
        self.object = parsed
        return parsed
    }

    /// ``object(for:parse:)`` for attributes held as raw bytes (a Redis reply): compared with
    /// `memcmp`, copied only when they differ from the last ones.
    public func object(forBytes bytes: UnsafeRawBufferPointer, parse: () throws -> JSONObject) rethrows -> JSONObject {
        if let object, bytes.count == self.bytes.count,
            bytes.count == 0 || self.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 })
        {
            return object
        }
        let parsed = try parse()
        self.bytes = Array(bytes)
        self.object = parsed
        return parsed
    }

    /// The text of `bits`: the cached one when they are the last bits seen.
    func handleText(for bits: SessionHandle.Bits) -> String {
        if let handle, handle.bits == bits { return handle.text }
        let text = bits.text
        handle = (bits, text)
        return text
    }
}
