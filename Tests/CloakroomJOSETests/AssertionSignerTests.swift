import Crypto
import Foundation
import Testing

@testable import CloakroomJOSE

/// Tokens and key sets made by ``AssertionSigner``, checked with swift-crypto's P256 and
/// Foundation's JSON, never with the code that made them.
@Suite struct AssertionSignerTests {
    /// A PEM key from swift-crypto, as `openssl ecparam -name prime256v1 -genkey` would write it.
    static func pem() -> (pem: String, publicKey: P256.Signing.PublicKey) {
        let key = P256.Signing.PrivateKey()
        return (key.pemRepresentation, key.publicKey)
    }

    static func decode(_ part: Substring) throws -> Data {
        var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return try #require(Data(base64Encoded: base64))
    }

    static func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// RFC 7638 computed here from the public key's x9.63 bytes.
    static func thumbprint(_ key: P256.Signing.PublicKey) -> String {
        let raw = key.x963Representation
        func b64(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let x = b64(raw[1..<33]), y = b64(raw[33..<65])
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        return b64(Data(SHA256.hash(data: Data(canonical.utf8))))
    }

    @Test func signsES256WithTheFirstKeyAndItsThumbprintAsKid() async throws {
        let first = Self.pem(), second = Self.pem()
        let signer = AssertionSigner(keys: [try AssertionKey(pem: first.pem), try AssertionKey(pem: second.pem)])
        try await signer.prepare()
        let payload = Array(#"{"sub":"alice","roles":["a","b"]}"#.utf8)
        let token = try signer.sign(payload: payload)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        let header = try Self.json(try Self.decode(parts[0]))
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "JWT")
        #expect(header["kid"] as? String == Self.thumbprint(first.publicKey))
        #expect(try Self.decode(parts[1]) == Data(payload))
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: try Self.decode(parts[2]))
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        #expect(first.publicKey.isValidSignature(signature, for: signingInput))
        #expect(!second.publicKey.isValidSignature(signature, for: signingInput), "the second key only verifies")
    }

    @Test func publishesEveryKeyInOrderWithoutPrivateParts() throws {
        let first = Self.pem(), second = Self.pem()
        let signer = AssertionSigner(keys: [try AssertionKey(pem: first.pem), try AssertionKey(pem: second.pem)])
        let jwks = try Self.json(Data(signer.jwks))
        let keys = try #require(jwks["keys"] as? [[String: Any]])
        #expect(keys.count == 2)
        for (jwk, expected) in zip(keys, [first.publicKey, second.publicKey]) {
            #expect(jwk["kty"] as? String == "EC")
            #expect(jwk["crv"] as? String == "P-256")
            #expect(jwk["alg"] as? String == "ES256")
            #expect(jwk["d"] == nil)
            #expect(jwk["kid"] as? String == Self.thumbprint(expected))
            let x = try Self.decode(Substring(try #require(jwk["x"] as? String)))
            let y = try Self.decode(Substring(try #require(jwk["y"] as? String)))
            #expect(try P256.Signing.PublicKey(x963Representation: [0x04] + x + y).rawRepresentation == expected.rawRepresentation)
        }
    }

    @Test func refusesToSignBeforePrepare() {
        let signer = AssertionSigner(keys: [AssertionKey.generate()])
        #expect(throws: AssertionSigningError.notPrepared) { try signer.sign(payload: Array("{}".utf8)) }
    }

    @Test func readsSEC1AndPKCS8() throws {
        let key = P256.Signing.PrivateKey()
        let sec1 = try AssertionKey(pem: key.pemRepresentation)
        let pkcs8 = try AssertionKey(pem: key.derRepresentation.pemWrapped("PRIVATE KEY"))
        #expect(sec1.kid == Self.thumbprint(key.publicKey))
        #expect(pkcs8.kid == sec1.kid)
    }

    @Test func namesWhatAFileHoldsWhenItIsNotAP256PrivateKey() {
        #expect(throws: AssertionKeyError.notPEM) { try AssertionKey(pem: "hello") }
        #expect(throws: AssertionKeyError.wrongCurve("P-384")) { try AssertionKey(pem: P384.Signing.PrivateKey().pemRepresentation) }
        #expect(throws: AssertionKeyError.wrongCurve("P-521")) { try AssertionKey(pem: P521.Signing.PrivateKey().pemRepresentation) }
        #expect(throws: AssertionKeyError.notPrivate("a public key")) {
            try AssertionKey(pem: P256.Signing.PrivateKey().publicKey.pemRepresentation)
        }
        #expect(throws: AssertionKeyError.unreadable) {
            try AssertionKey(pem: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
        }
    }
}

extension Data {
    func pemWrapped(_ label: String) -> String {
        let body = base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(body)\n-----END \(label)-----\n"
    }
}
