import Crypto
import Foundation

/// Turns a ``SessionID`` into the session cookie's value and back, signing it with HMAC-SHA256.
///
/// The value is `base64url(id) "." base64url(HMAC-SHA256(secrets[0], id))`, both unpadded:
/// 43 + 1 + 43 = ``encodedLength`` characters. The first secret signs; every secret verifies, so
/// operators rotate by putting a new secret first and dropping the old one once cookies signed
/// with it have expired.
///
/// ``decode(_:)`` rejects anything that is not exactly that shape before computing a MAC, checks
/// the MAC in constant time, and allocates only the returned ID's bytes. A value whose signature
/// fails is treated as absent: callers must not look it up in a store.
public struct SessionCookieCodec: Sendable {
    /// Characters in every value ``encode(_:)`` produces and ``decode(_:)`` accepts.
    public static let encodedLength = 2 * Self.partLength + 1
    private static let partLength = 43  // Base64URL.encodedCount(byteCount: 32)
    private static let macByteCount = SHA256.byteCount

    private let keys: [SymmetricKey]
    /// One HMAC per key with the key already absorbed: a copy of it verifies a cookie without
    /// hashing the key's pads again on every request.
    private let preparedMACs: [HMAC<SHA256>]

    /// - Parameter secrets: HMAC keys, the signing one first. Must not be empty, and no secret
    ///   may be empty (configuration validation requires at least 32 bytes each).
    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "SessionCookieCodec needs at least one secret")
        precondition(secrets.allSatisfy { !$0.isEmpty }, "SessionCookieCodec secrets must not be empty")
        self.keys = secrets.map { SymmetricKey(data: $0) }
        self.preparedMACs = keys.map { HMAC<SHA256>(key: $0) }
    }

    /// The cookie value for `id`, signed with the first secret.
    public func encode(_ id: SessionID) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: id.bytes, using: keys[0])
        return String(unsafeUninitializedCapacity: Self.encodedLength) { out in
            let idLength = id.bytes.withUnsafeBytes { Base64URL.encode($0, into: out) }
            out[idLength] = UInt8(ascii: ".")
            let macOut = UnsafeMutableBufferPointer(rebasing: out[(idLength + 1)...])
            let macLength = mac.withUnsafeBytes { Base64URL.encode($0, into: macOut) }
            return idLength + 1 + macLength
        }
    }

    /// The ID in a cookie value, or `nil` when the value is malformed or no secret's signature
    /// matches.
    public func decode(_ value: Substring) -> SessionID? {
        guard value.utf8.count == Self.encodedLength else { return nil }
        var contiguous = value
        return contiguous.withUTF8 { decode(utf8: $0) }
    }

    /// The ID in a whole-string cookie value; see the `Substring` overload.
    public func decode(_ value: String) -> SessionID? {
        decode(value[...])
    }

    private func decode(utf8 chars: UnsafeBufferPointer<UInt8>) -> SessionID? {
        guard chars.count == Self.encodedLength, chars[Self.partLength] == UInt8(ascii: ".") else { return nil }
        let idChars = UnsafeBufferPointer(rebasing: chars[0..<Self.partLength])
        let macChars = UnsafeBufferPointer(rebasing: chars[(Self.partLength + 1)...])

        var idBytes = [UInt8](repeating: 0, count: SessionID.byteCount)
        guard idBytes.withUnsafeMutableBytes({ Base64URL.decode(idChars, into: $0) }) else { return nil }

        let verified = withUnsafeTemporaryAllocation(byteCount: Self.macByteCount, alignment: 1) { mac -> Bool in
            guard Base64URL.decode(macChars, into: mac) else { return false }
            let macBytes = UnsafeRawBufferPointer(mac)
            // Check every key (no early exit) so timing does not reveal which one matched, and
            // compare in constant time.
            var anyValid = false
            for prepared in preparedMACs {
                var mac = prepared
                mac.update(data: idBytes)
                let valid = mac.finalize().withUnsafeBytes { expected in
                    var difference: UInt8 = 0
                    for i in 0..<Self.macByteCount { difference |= expected[i] ^ macBytes[i] }
                    return difference == 0
                }
                anyValid = anyValid || valid
            }
            return anyValid
        }
        return verified ? SessionID(bytes: idBytes) : nil
    }

    /// 32 bytes from the system CSPRNG: the signing key the memory store's deployments use when
    /// the operator configured no secret (cookies then die with the process, as the sessions do).
    public static func randomSecret() -> [UInt8] {
        randomBytes(count: 32)
    }
}
