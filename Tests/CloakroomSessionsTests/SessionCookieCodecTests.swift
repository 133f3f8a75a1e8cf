import CloakroomSessions
import Foundation
import Testing

@Suite struct SessionCookieCodecTests {
    static let secretA = Array("cloakroom-test-secret-0123456789".utf8)
    static let secretB = Array("another-secret-of-32-bytes-or-so".utf8)
    let codec = SessionCookieCodec(secrets: [Self.secretA])

    /// Computed independently with Python's `hmac` and `base64` modules.
    static let knownID = SessionID(bytes: Array(0..<32))!
    static let knownValue = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8.kcqKeinY2JVQiWKg_d9kZF5MGDm-xws8mgTBJ464u8A"

    @Test func encodesTheDocumentedFormat() {
        #expect(codec.encode(Self.knownID) == Self.knownValue)
        #expect(Self.knownValue.count == SessionCookieCodec.encodedLength)
        #expect(codec.decode(Self.knownValue) == Self.knownID)
    }

    @Test func roundTripsRandomIDs() {
        for _ in 0..<100 {
            let id = SessionID.random()
            let value = codec.encode(id)
            #expect(value.utf8.count == 87)
            #expect(value.utf8.allSatisfy { $0 == UInt8(ascii: ".") || isBase64URL($0) })
            #expect(codec.decode(value[...]) == id)
        }
    }

    @Test func decodesASliceOfALargerHeader() {
        let header = "theme=dark; cloakroom_session=\(Self.knownValue); other=1"
        let start = header.range(of: "=", range: header.range(of: "cloakroom_session")!.upperBound..<header.endIndex)!.upperBound
        let end = header.range(of: ";", range: start..<header.endIndex)!.lowerBound
        #expect(codec.decode(header[start..<end]) == Self.knownID)
    }

    @Test func rejectsTamperedValues() {
        let value = Array(Self.knownValue.utf8)
        // Flip one character anywhere (to another alphabet character): always rejected.
        for position in value.indices where position != 43 {
            var tampered = value
            tampered[position] = tampered[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(codec.decode(String(decoding: tampered, as: UTF8.self)) == nil, "flipped character \(position)")
        }
        // A valid signature moved onto another ID.
        let other = codec.encode(SessionID.random())
        let spliced = String(other.prefix(43)) + String(Self.knownValue.suffix(44))
        #expect(codec.decode(spliced) == nil)
    }

    @Test func rejectsNonCanonicalSpellingsOfTheSameBytes() {
        // 32 bytes leave 2 unused bits in the last character of the ID part ('8' = 60 → '9' =
        // 61 decodes to the same bytes); 'h' in the last MAC character likewise.
        let idPart = Self.knownValue.prefix(43)
        #expect(idPart.last == "8")
        let variant = idPart.dropLast() + "9" + Self.knownValue.suffix(44)
        #expect(codec.decode(String(variant)) == nil)
    }

    @Test func rotation() {
        let signedWithA = codec.encode(Self.knownID)
        #expect(SessionCookieCodec(secrets: [Self.secretB, Self.secretA]).decode(signedWithA) == Self.knownID)
        #expect(SessionCookieCodec(secrets: [Self.secretB]).decode(signedWithA) == nil)

        let signedWithB = SessionCookieCodec(secrets: [Self.secretB, Self.secretA]).encode(Self.knownID)
        #expect(signedWithB != signedWithA, "the first secret signs")
        #expect(SessionCookieCodec(secrets: [Self.secretB]).decode(signedWithB) == Self.knownID)
        #expect(codec.decode(signedWithB) == nil)
    }

    static let garbage: [String] = {
        let v = knownValue
        let body = String(v.dropLast())
        var values: [String] = ["", ".", "abc", "abc.def"]
        values.append(body)                                          // 86 characters
        values.append(v + "A")                                       // 88 characters
        values.append(v.replacingOccurrences(of: ".", with: "A"))    // no dot
        values.append("A" + body)                                    // dot one place late
        values.append(v.replacingOccurrences(of: "-", with: "+"))    // standard base64 alphabet
        values.append(v.replacingOccurrences(of: "_", with: "/"))
        values.append(body + "=")                                    // padding
        values.append(body + " ")                                    // whitespace
        values.append(body + "\u{0}")
        values.append(String(v.dropLast(2)) + "é")                   // 87 bytes, 86 characters
        values.append(String(repeating: "A", count: 43) + "." + String(repeating: "A", count: 43))
        values.append(String(v.prefix(44)) + String(v.prefix(43)))  // the ID as its own MAC
        return values
    }()

    @Test(arguments: garbage)
    func rejectsGarbage(_ value: String) {
        #expect(codec.decode(value) == nil)
    }

    @Test func randomSecretsAre32FreshBytes() {
        let a = SessionCookieCodec.randomSecret()
        let b = SessionCookieCodec.randomSecret()
        #expect(a.count == 32)
        #expect(a != b)
        #expect(Set(a).count > 8, "32 random bytes are very unlikely to repeat this much")
    }

    private func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}
