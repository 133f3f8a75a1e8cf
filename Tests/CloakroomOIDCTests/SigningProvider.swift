import Crypto
import CryptoExtras
import Foundation
import Synchronization

@testable import CloakroomJOSE

/// A provider's signing keys for tests: an RSA and an EC P-256 key, their public JWKS, and
/// compact JWS tokens signed with swift-crypto directly (never with the code under test), so a
/// test can make any header and payload, including the forged ones.
final class SigningProvider: Sendable {
    static let issuer = "https://idp.example"
    /// One RSA key per process: making one costs a noticeable moment in a debug build.
    static let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    let ec = P256.Signing.PrivateKey()
    /// Counts JWKS fetches; `available` false makes them fail as an unreachable provider would.
    let state = Mutex<(fetches: Int, available: Bool)>((0, true))

    var fetches: Int { state.withLock { $0.fetches } }
    /// Whether the RSA key's JWK names its algorithm (`alg: RS256`); many providers leave it
    /// out, the key then serving RS256 and PS256 alike.
    let namesRSAAlgorithm: Bool

    init(namesRSAAlgorithm: Bool = true) {
        self.namesRSAAlgorithm = namesRSAAlgorithm
    }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    var jwks: [UInt8] {
        let rsa = try! Self.rsa.publicKey.getKeyPrimitives()
        let raw = ec.publicKey.x963Representation
        let keys = [
            #"{"kty":"RSA","kid":"rsa-1","use":"sig",\#(namesRSAAlgorithm ? #""alg":"RS256","# : "")"n":"\#(Self.base64URL(rsa.modulus))","e":"\#(Self.base64URL(rsa.publicExponent))"}"#,
            #"{"kty":"EC","kid":"ec-1","use":"sig","crv":"P-256","x":"\#(Self.base64URL(raw[1..<33]))","y":"\#(Self.base64URL(raw[33..<65]))"}"#,
        ]
        return Array("{\"keys\":[\(keys.joined(separator: ","))]}".utf8)
    }

    /// The key set as the proxy holds it, fetching from this provider.
    func keySet(now: @escaping @Sendable () -> Date = { Date() }) -> ProviderKeySet {
        ProviderKeySet(now: now) { [self] in
            let available = state.withLock { state -> Bool in
                state.fetches += 1
                return state.available
            }
            guard available else { throw URLError(.cannotConnectToHost) }
            return self.jwks
        }
    }

    /// A token with `header` and `payload` (JSON objects as text), signed as `header`'s `alg` says
    /// (RS256, PS256 or ES256; any other algorithm gets a made-up signature).
    func token(header: String, payload: String) -> String {
        let input = Self.base64URL(Data(header.utf8)) + "." + Self.base64URL(Data(payload.utf8))
        let bytes = Data(input.utf8)
        let signature: Data
        if header.contains(#""alg":"RS256""#) {
            signature = try! Self.rsa.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5).rawRepresentation
        } else if header.contains(#""alg":"PS256""#) {
            signature = try! Self.rsa.signature(for: SHA256.hash(data: bytes), padding: .PSS).rawRepresentation
        } else if header.contains(#""alg":"ES256""#) {
            signature = try! ec.signature(for: bytes).rawRepresentation
        } else if header.contains(#""alg":"HS256""#) {
            // The classic forgery: an HMAC keyed with the provider's public key.
            signature = Data(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: jwks)))
        } else {
            signature = Data()
        }
        return input + "." + Self.base64URL(signature)
    }

    /// An access token signed with the RSA key (`kid` rsa-1) unless `alg`/`kid` say otherwise.
    /// `claims` are added to (or replace) the defaults: the issuer, `aud` "orders-api", `sub`
    /// diana, `iat` now and `exp` an hour on.
    func accessToken(alg: String = "RS256", kid: String? = "rsa-1", now: Date, _ claims: [String: Any] = [:]) -> String {
        var payload: [String: Any] = [
            "iss": Self.issuer, "aud": "orders-api", "sub": "diana", "email": "diana@example.org", "name": "Diana Krall",
            "azp": "another-client", "client_id": "another-client", "scope": "openid orders",
            "iat": Int(now.timeIntervalSince1970), "exp": Int(now.timeIntervalSince1970) + 3600,
        ]
        for (name, value) in claims { payload[name] = value }
        payload = payload.filter { !($0.value is NSNull) }
        let header = kid.map { #"{"alg":"\#(alg)","typ":"at+jwt","kid":"\#($0)"}"# } ?? #"{"alg":"\#(alg)","typ":"at+jwt"}"#
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]), as: UTF8.self)
        return token(header: header, payload: json)
    }
}
