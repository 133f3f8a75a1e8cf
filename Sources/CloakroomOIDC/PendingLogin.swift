import CloakroomSessions
import Crypto

import struct Foundation.Data
import struct Foundation.Date

/// A login between the redirect to the provider and the callback: `state`, `nonce`, the PKCE
/// verifier and `next`, kept in a short-lived cookie sealed with AES-GCM under a key derived from
/// the session secrets. The browser holds it but can neither read it (the verifier and nonce are
/// encrypted) nor forge or alter it (authenticated); its `state` binds the callback to the
/// browser that started the flow, and the store's replay guard makes each `state` usable once.
public struct PendingLogin: Sendable, Equatable, Codable {
    public static let lifetime: Double = 600

    public var state: String
    public var nonce: String
    public var verifier: String
    public var next: String
    /// Unix seconds.
    public var expires: Double

    enum CodingKeys: String, CodingKey {
        case state = "s", nonce = "n", verifier = "v", next = "r", expires = "e"
    }

    /// A new pending login with fresh random values.
    public static func make(next: String, now: Date) -> PendingLogin {
        PendingLogin(
            state: randomToken(), nonce: randomToken(), verifier: randomToken() + randomToken(), next: next,
            expires: now.timeIntervalSince1970 + lifetime)
    }

    /// The S256 code challenge of ``verifier`` (RFC 7636 §4.2).
    public var codeChallenge: String {
        base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return base64URL((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

/// AES-GCM under a key derived from each of `session.secrets` for one purpose: the first secret
/// seals, every one opens (rotation, like the session cookie). Sealed values are base64url.
struct SecretBox: Sendable {
    private let keys: [SymmetricKey]

    init(secrets: [[UInt8]], purpose: String) {
        keys = secrets.map { secret in
            HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: secret), salt: Array("cloakroom".utf8),
                info: Array(purpose.utf8), outputByteCount: 32)
        }
    }

    func seal(_ plain: some DataProtocol) -> String {
        // Cannot fail with a 256-bit key and a random nonce.
        let box = try! AES.GCM.seal(plain, using: keys[0])
        return base64URL(Array(box.combined!))
    }

    /// What `value` seals, or `nil` when no secret opens it (not sealed by us, or altered).
    func open(_ value: String) -> [UInt8]? {
        guard let bytes = base64URLDecode(value), let box = try? AES.GCM.SealedBox(combined: bytes) else { return nil }
        for key in keys {
            if let plain = try? AES.GCM.open(box, using: key) { return Array(plain) }
        }
        return nil
    }
}

/// Seals and opens ``PendingLogin`` cookie values.
public struct PendingLoginSeal: Sendable {
    private let box: SecretBox

    public init(secrets: [[UInt8]]) {
        box = SecretBox(secrets: secrets, purpose: "oidc pending login v1")
    }

    public func seal(_ login: PendingLogin) -> String {
        box.seal((try? JSONEncoder().encode(login)) ?? Data())
    }

    /// The pending login, or `nil` when the value was not sealed by us or has expired.
    public func open(_ value: String, now: Date) -> PendingLogin? {
        guard let plain = box.open(value), let login = try? JSONDecoder().decode(PendingLogin.self, from: Data(plain)) else { return nil }
        return login.expires > now.timeIntervalSince1970 ? login : nil
    }
}

func base64URL(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func base64URLDecode(_ text: String) -> [UInt8]? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64).map { [UInt8]($0) }
}

import class Foundation.JSONDecoder
import class Foundation.JSONEncoder
import Foundation
