import JWTKit

import struct Foundation.Data
import struct Foundation.Date

/// Verifies a signed JWT from an identity provider: the algorithm, the signature against the
/// provider's key set, then the claims every such token needs (`iss`, `aud` by its
/// ``AudienceRule``, `exp`, `iat` at most ``maximumFutureIssuedAt`` ahead (required for ID and
/// logout tokens), `nbf`).
/// Token-specific claims (`nonce`, the logout event) are the caller's to check on the returned
/// ``VerifiedToken``.
///
/// Accepted algorithms: RS256, PS256, ES256 and EdDSA. `none`, every HMAC algorithm and anything
/// else are refused before a key is even looked at: an HMAC "signature" made with a public key
/// as its secret is the classic forgery.
public struct TokenVerifier: Sendable {
    public static let acceptedAlgorithms: Set<String> = ["RS256", "PS256", "ES256", "EdDSA"]
    /// How far in the future `iat` may be (clock skew between the provider and the proxy).
    public static let maximumFutureIssuedAt: Double = 60

    /// Which `aud` a token must name, and whether the OIDC `azp` rule applies.
    public enum AudienceRule: Sendable, Equatable {
        /// ID and logout tokens (OIDC Core §3.1.3.7): `aud` contains the client id; `azp`, when
        /// present, is the client id, and must be present when there are several audiences.
        case client(String)
        /// Access tokens presented as bearer credentials: `aud` contains the audience. No `azp`
        /// rule: an access token's `azp` is the client that obtained it, often another one.
        case resource(String)

        public var audience: String {
            switch self {
            case .client(let id): return id
            case .resource(let audience): return audience
            }
        }
    }

    public let issuer: String
    public let rule: AudienceRule
    public let keys: ProviderKeySet
    public var audience: String { rule.audience }

    public init(issuer: String, rule: AudienceRule, keys: ProviderKeySet) {
        self.issuer = issuer
        self.rule = rule
        self.keys = keys
    }

    /// A verifier of ID and logout tokens for client `audience`.
    public init(issuer: String, audience: String, keys: ProviderKeySet) {
        self.init(issuer: issuer, rule: .client(audience), keys: keys)
    }

    /// The verified token, or a ``TokenRejection``.
    public func verify(_ token: String, now: Date) async throws -> VerifiedToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Self.base64URLDecode(parts[0]),
            let payloadBytes = Self.base64URLDecode(parts[1])
        else {
            throw TokenRejection.malformed("not a compact JWS")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch {
            throw TokenRejection.malformed("header is not JSON")
        }
        guard Self.acceptedAlgorithms.contains(header.alg) else { throw TokenRejection.algorithmRefused(header.alg) }
        guard header.crit == nil else { throw TokenRejection.malformed("unsupported crit header") }

        var verified: TokenClaims?
        var rejection = TokenRejection.badSignature
        for collection in try await keys.collections(for: header.kid, algorithm: header.alg) where verified == nil {
            do {
                verified = try await collection.verify(token, as: TokenClaims.self)
            } catch let error as JWTError where error.errorType == .malformedToken {
                // Claims that are not the JSON they should be (`"sub": 123`, an `events` string):
                // not trusted either, and said so, not as a signature problem (found by an
                // audit). The reason names no claim value.
                rejection = TokenRejection.malformed("a claim is not of the type it must be")
            } catch {
                continue  // a signature this key does not verify
            }
        }
        guard let claims = verified else { throw rejection }
        let time = now.timeIntervalSince1970
        guard claims.iss == issuer else { throw TokenRejection.issuer }
        guard let audiences = claims.aud, audiences.contains(audience) else { throw TokenRejection.audience }
        if case .client(let client) = rule {
            // OIDC Core §3.1.3.7: with several audiences, azp must be present and be us; when
            // present at all, it must be us.
            if let azp = claims.azp {
                guard azp == client else { throw TokenRejection.authorizedParty }
            } else if audiences.count > 1 {
                throw TokenRejection.authorizedParty
            }
        }
        guard let exp = claims.exp else { throw TokenRejection.missingClaim("exp") }
        guard time < exp else { throw TokenRejection.expired }
        // ID and logout tokens must carry `iat` (OIDC Core §2, Back-Channel Logout §2.4). An
        // access token is judged by its signature, `iss`, `aud` and `exp`: many providers'
        // access tokens have no `iat` (RFC 9068 asks for one; SPEC does not), so it is checked
        // only when present.
        if let iat = claims.iat {
            guard iat <= time + Self.maximumFutureIssuedAt else { throw TokenRejection.issuedInFuture }
        } else if case .client = rule {
            throw TokenRejection.missingClaim("iat")
        }
        if let nbf = claims.nbf, nbf > time + Self.maximumFutureIssuedAt { throw TokenRejection.notYetValid }
        return VerifiedToken(algorithm: header.alg, claims: claims, payload: payloadBytes)
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
        var crit: [String]?
    }

    /// Base64url without padding (RFC 7515 §2), padding tolerated.
    static func base64URLDecode(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 = base64.trimmingCharacters(in: ["="])
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }
}

/// A token whose signature and common claims verified.
public struct VerifiedToken: Sendable {
    public var algorithm: String
    public var claims: TokenClaims
    /// The payload's JSON as the provider sent it, for claims beyond ``TokenClaims``.
    public var payload: [UInt8]
}

import class Foundation.JSONDecoder
import Foundation
