/// Why a token was refused. The description names the check, never the token's content, so it
/// can go to a log line.
public enum TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// `alg` is `none`, an HMAC algorithm, or another one not accepted.
    case algorithmRefused(String)
    /// No key with the token's `kid`, even after fetching the key set again.
    case unknownKey
    /// The key the token's `kid` names does not serve its `alg` (the JWK names another).
    case keyAlgorithmMismatch
    case badSignature
    case issuer
    case audience
    case authorizedParty
    case expired
    case issuedInFuture
    case notYetValid
    case missingClaim(String)
    /// The key set could not be fetched (the provider is unreachable).
    case keysUnavailable(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed token: \(why)"
        case .algorithmRefused(let alg): return "algorithm \(alg) refused"
        case .unknownKey: return "no key for the token's kid in the provider's JWKS"
        case .keyAlgorithmMismatch: return "the key the token's kid names is not for its alg"
        case .badSignature: return "signature does not verify"
        case .issuer: return "iss is not the configured issuer"
        case .audience: return "aud does not contain the expected audience"
        case .authorizedParty: return "azp is not the client id"
        case .expired: return "token expired (exp)"
        case .issuedInFuture: return "iat more than 60 s in the future"
        case .notYetValid: return "token not yet valid (nbf)"
        case .missingClaim(let name): return "claim \(name) missing"
        case .keysUnavailable(let why): return "provider keys unavailable: \(why)"
        }
    }
}
