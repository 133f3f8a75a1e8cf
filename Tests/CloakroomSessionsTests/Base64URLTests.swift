@testable import CloakroomSessions
import Testing

@Suite struct Base64URLTests {
    /// RFC 4648 §10 test vectors, without padding.
    @Test(arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")])
    func rfc4648Vectors(_ plain: String, _ encoded: String) {
        let bytes = Array(plain.utf8)
        #expect(Base64URL.encode(bytes) == encoded)
        #expect(Base64URL.decode(encoded[...], byteCount: bytes.count) == bytes)
    }

    @Test func usesTheURLSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_", byteCount: 3) == [0xFB, 0xFF, 0xBF])
        #expect(Base64URL.decode("+/+/", byteCount: 3) == nil)
    }

    @Test func decodingIsStrict() {
        #expect(Base64URL.decode("Zh", byteCount: 1) == nil, "unused bits must be zero")
        #expect(Base64URL.decode("Zm9", byteCount: 2) == nil, "unused bits must be zero")
        #expect(Base64URL.decode("Zg==", byteCount: 1) == nil, "no padding")
        #expect(Base64URL.decode("Zm9v", byteCount: 2) == nil, "length must match")
        #expect(Base64URL.decode("Zm9 ", byteCount: 3) == nil)
        #expect(Base64URL.decode("Z", byteCount: 0) == nil)
    }

    @Test func roundTripsEveryLengthAndByte() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 251) }
            let text = Base64URL.encode(bytes)
            #expect(text.utf8.count == Base64URL.encodedCount(byteCount: length))
            #expect(Base64URL.decode(text[...], byteCount: length) == bytes)
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64URL.decode(Base64URL.encode(all)[...], byteCount: 256) == all)
    }
}
