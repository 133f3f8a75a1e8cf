import Crypto
import JWTKit

import struct Foundation.Data

/// One EC P-256 key for signing identity assertions (ES256): jwt-kit's key, its public
/// coordinates and its `kid`, the RFC 7638 JWK thumbprint, so a backend can tell the keys of a
/// set apart without anyone naming them.
public struct AssertionKey: Sendable, Equatable {
    public let privateKey: ES256PrivateKey
    /// The RFC 7638 thumbprint (SHA-256, base64url) of the public key.
    public let kid: String
    /// Base64url coordinates of the public key.
    public let x: String
    public let y: String

    init(_ privateKey: ES256PrivateKey) {
        self.privateKey = privateKey
        // Always present for an EC key jwt-kit holds; the fallbacks only keep this total.
        let parameters = privateKey.parameters
        x = parameters?.x ?? ""
        y = parameters?.y ?? ""
        kid = Self.thumbprint(x: x, y: y)
    }

    /// Reads a PEM EC P-256 private key (SEC 1 `EC PRIVATE KEY` or PKCS #8 `PRIVATE KEY`).
    /// Anything else is refused with what it is instead, so `cloakroom check` can say so.
    public init(pem: String) throws(AssertionKeyError) {
        guard pem.contains("-----BEGIN ") else { throw .notPEM }
        if let key = try? ES256PrivateKey(pem: pem) {
            self.init(key)
            return
        }
        throw Self.whatElse(pem)
    }

    /// A new random key (the memory store's key when `signing_keys` is not set).
    public static func generate() -> AssertionKey {
        AssertionKey(ES256PrivateKey())
    }

    /// The public key as a JWK, as the JWKS publishes it.
    public var publicJWK: JWK {
        .ecdsa(.es256, identifier: JWKIdentifier(string: kid), x: x, y: y, curve: .p256)
    }

    public static func == (lhs: AssertionKey, rhs: AssertionKey) -> Bool { lhs.kid == rhs.kid }

    /// RFC 7638 §3: SHA-256 of the required members in lexicographic order, no whitespace.
    /// The coordinates are base64url, so nothing in them needs escaping.
    static func thumbprint(x: String, y: String) -> String {
        let canonical = #"{"crv":"P-256","kty":"EC","x":""# + x + #"","y":""# + y + #""}"#
        return AssertionBase64URL.encode(Array(SHA256.hash(data: Array(canonical.utf8))))
    }

    /// Why a PEM that is not an EC P-256 private key was refused.
    private static func whatElse(_ pem: String) -> AssertionKeyError {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") { return .encrypted }
        if pem.contains("-----BEGIN CERTIFICATE-----") { return .notPrivate("a certificate") }
        if pem.contains("-----BEGIN PUBLIC KEY-----") || pem.contains("-----BEGIN EC PUBLIC KEY-----") {
            return .notPrivate("a public key")
        }
        if (try? ES384PrivateKey(pem: pem)) != nil { return .wrongCurve("P-384") }
        if (try? ES512PrivateKey(pem: pem)) != nil { return .wrongCurve("P-521") }
        if pem.contains("-----BEGIN RSA PRIVATE KEY-----") || (try? Insecure.RSA.PrivateKey(pem: pem)) != nil {
            return .wrongType("an RSA key")
        }
        return .unreadable
    }
}

/// Why a file cannot be an assertion signing key; the description completes "the file holds …"
/// style messages that name the key path and the file.
public enum AssertionKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case notPEM
    case encrypted
    /// A certificate or a public key where the private key belongs.
    case notPrivate(String)
    /// An EC key on another curve.
    case wrongCurve(String)
    /// Another kind of key (RSA).
    case wrongType(String)
    /// PEM, but not a key jwt-kit can read.
    case unreadable

    public var description: String {
        switch self {
        case .notPEM: return "holds no PEM; expected an EC P-256 private key (openssl ecparam -name prime256v1 -genkey -noout)"
        case .encrypted: return "is an encrypted private key; signing keys must be unencrypted PEM"
        case .notPrivate(let what): return "holds \(what), not a private key; expected an EC P-256 private key"
        case .wrongCurve(let curve): return "is an EC \(curve) key; signing keys must be EC P-256 (ES256)"
        case .wrongType(let what): return "is \(what); signing keys must be EC P-256 (ES256)"
        case .unreadable: return "is not an EC P-256 private key in PEM"
        }
    }
}

/// Unpadded base64url (RFC 7515 §2) for token parts and thumbprints.
enum AssertionBase64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.last == "=" { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}
