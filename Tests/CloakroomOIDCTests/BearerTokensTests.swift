import CloakroomConfig
import CloakroomSessions
import Crypto
import Foundation
import Synchronization
import Testing

@testable import CloakroomJOSE
@testable import CloakroomOIDC

/// The provider's access tokens as bearer credentials: the login's key set and algorithm rules,
/// `iss`, `aud` containing `bearer_audience` (no `azp` rule), the claims mapped as at login,
/// and one verification per token.
@Suite struct BearerTokensTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let defaultClaims = OIDCSettings(issuer: "x", clientID: "x", clientSecret: nil, redirectURL: "x").claims

    static func bearer(
        _ provider: SigningProvider, claims: [ClaimMapping] = defaultClaims, capacity: Int = BearerCache.defaultCapacity
    ) -> BearerTokens {
        BearerTokens(
            issuer: SigningProvider.issuer, audience: "orders-api", claims: claims, keys: provider.keySet(now: { now }), capacity: capacity)
    }

    static func reason(_ check: BearerCheck) -> String? {
        if case .invalid(let why) = check { return why }
        return nil
    }

    @Test(arguments: [("RS256", "rsa-1"), ("ES256", "ec-1")])
    func aValidTokenSignsInWithTheMappedClaims(_ alg: String, _ kid: String) async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let token = provider.accessToken(alg: alg, kid: kid, now: Self.now, ["groups": ["admin"]])
        let check = await bearer.check(token, now: Self.now)
        guard case .valid(let identity) = check else { Issue.record("\(alg): \(check)"); return }
        #expect(identity.attributes == ["sub": "diana", "email": "diana@example.org", "name": "Diana Krall"], "only mapped claims")
        #expect(identity.expiresAt == Self.now.addingTimeInterval(3600))
        // The handle: the first 16 base64url characters of the token's SHA-256, computed here.
        let digest = SigningProvider.base64URL(Data(SHA256.hash(data: Data(token.utf8))))
        #expect(identity.handle == String(digest.prefix(16)))
        #expect(!token.contains(identity.handle))
    }

    @Test func theAudienceMustBeNamedButAzpIsNotTheIDTokensRule() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let wrong = await bearer.check(provider.accessToken(now: Self.now, ["aud": "billing-api"]), now: Self.now)
        #expect(Self.reason(wrong)?.contains("aud") == true, "\(wrong)")
        #expect(Self.reason(await bearer.check(provider.accessToken(now: Self.now, ["aud": NSNull()]), now: Self.now)) != nil)

        // Several audiences and an azp of another client: fine for an access token...
        let several = provider.accessToken(now: Self.now, ["aud": ["billing-api", "orders-api"]])
        guard case .valid = await bearer.check(several, now: Self.now) else { Issue.record("aud array"); return }
        // ...while an ID token with the same claims fails the azp rule.
        let idTokens = TokenVerifier(issuer: SigningProvider.issuer, audience: "orders-api", keys: provider.keySet(now: { Self.now }))
        await #expect(throws: TokenRejection.authorizedParty) { _ = try await idTokens.verify(several, now: Self.now) }
    }

    /// Found by an audit: with `bearer_audience` equal to the client's ID, an ID token (the one
    /// logout puts in a URL as `id_token_hint`) passed as an access token. It carries `nonce`.
    @Test func anIDTokenIsNoBearerToken() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let idToken = provider.accessToken(now: Self.now, ["nonce": "n-0S6_WzA2Mj", "azp": "orders-api"])
        #expect(Self.reason(await bearer.check(idToken, now: Self.now))?.contains("nonce") == true)
    }

    @Test func expiredOrNotYetValidTokensAreRefused() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let t = Int(Self.now.timeIntervalSince1970)
        let cases: [([String: Any], String)] = [
            (["exp": t - 1], "expired"),
            (["exp": t], "expired"),
            (["exp": NSNull()], "claim exp missing"),
            (["iat": t + 61], "iat more than 60 s in the future"),
            (["nbf": t + 300], "not yet valid"),
        ]
        for (claims, expected) in cases {
            let check = await bearer.check(provider.accessToken(now: Self.now, claims), now: Self.now)
            #expect(Self.reason(check)?.contains(expected) == true, "\(claims): \(check)")
        }
        // No iat: an access token needs none (SPEC: signature, iss, aud, exp); an ID token does.
        let withoutIssuedAt = provider.accessToken(now: Self.now, ["iat": NSNull(), "azp": NSNull()])
        guard case .valid = await bearer.check(withoutIssuedAt, now: Self.now) else {
            Issue.record("an access token without iat")
            return
        }
        let idTokens = TokenVerifier(issuer: SigningProvider.issuer, audience: "orders-api", keys: provider.keySet(now: { Self.now }))
        await #expect(throws: TokenRejection.missingClaim("iat")) { _ = try await idTokens.verify(withoutIssuedAt, now: Self.now) }
        // Within the skew allowance: an iat 30 s ahead and an nbf just reached.
        guard case .valid = await bearer.check(provider.accessToken(now: Self.now, ["iat": t + 30, "nbf": t]), now: Self.now) else {
            Issue.record("iat 30 s ahead")
            return
        }
    }

    @Test func forgedAndForeignTokensAreRefused() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let cases: [(String, String)] = [
            (provider.accessToken(alg: "none", kid: nil, now: Self.now), "algorithm none refused"),
            (provider.accessToken(alg: "HS256", now: Self.now), "algorithm HS256 refused"),
            (provider.accessToken(now: Self.now, ["iss": "https://evil.example"]), "iss"),
            (provider.accessToken(kid: "rotated-away", now: Self.now), "no key for the token's kid"),
            (SigningProvider().accessToken(alg: "ES256", kid: "ec-1", now: Self.now), "signature"),  // another provider's key
            ("not-a-jwt", "malformed"),
        ]
        for (token, expected) in cases {
            let check = await bearer.check(token, now: Self.now)
            #expect(Self.reason(check)?.contains(expected) == true, "\(expected): \(check)")
            #expect(Self.reason(check)?.contains(token) == false, "the reason never holds the token")
        }
        // A payload changed after signing.
        let parts = provider.accessToken(now: Self.now).split(separator: ".")
        let tampered = [parts[0], Substring(SigningProvider.base64URL(Data(#"{"sub":"root"}"#.utf8))), parts[2]].joined(separator: ".")
        #expect(Self.reason(await bearer.check(tampered, now: Self.now)) == "signature does not verify")
        #expect(provider.fetches == 1, "an unknown kid refetches at most once a minute")
    }

    @Test func theLoginsClaimsMappingApplies() async throws {
        let provider = SigningProvider()
        let mapping = [ClaimMapping(attribute: "sub", claim: "preferred_username"), ClaimMapping(attribute: "roles", claim: "groups")]
        let bearer = Self.bearer(provider, claims: mapping)
        let token = provider.accessToken(now: Self.now, ["preferred_username": "dk", "groups": ["admin", "music"]])
        let check = await bearer.check(token, now: Self.now)
        #expect(check.attributes == ["sub": "dk", "roles": .array([.string("admin"), .string("music")])])

        let withoutSub = await bearer.check(provider.accessToken(now: Self.now, ["groups": ["admin"]]), now: Self.now)
        #expect(Self.reason(withoutSub) == "claim preferred_username for the sub attribute is not a non-empty string without control characters")
        let plain = Self.bearer(provider)
        #expect(Self.reason(await plain.check(provider.accessToken(now: Self.now, ["sub": NSNull()]), now: Self.now))?.contains("sub") == true)
        #expect(Self.reason(await plain.check(provider.accessToken(now: Self.now, ["sub": ""]), now: Self.now))?.contains("sub") == true)
        // A sub no header can carry is refused, not forwarded without X-User-Id (found by an audit).
        for sub in ["a\nb", "a\rb", "\u{7}", "a\u{0}b", "a\u{7f}"] {
            let check = await plain.check(provider.accessToken(now: Self.now, ["sub": sub]), now: Self.now)
            #expect(Self.reason(check)?.contains("control characters") == true, "\(sub.debugDescription): \(check)")
        }
        #expect(await plain.check(provider.accessToken(now: Self.now, ["sub": "a\tb"]), now: Self.now).attributes?["sub"] == "a\tb")
    }

    /// An outage is not cached as a verdict; the key set answers the same failure without a new
    /// fetch for ProviderKeySet.failureInterval, then fetches again.
    @Test func anUnreachableProviderIsUnavailableAndNotRemembered() async throws {
        let provider = SigningProvider()
        provider.state.withLock { $0.available = false }
        let clock = Mutex(Self.now)
        let bearer = BearerTokens(
            issuer: SigningProvider.issuer, audience: "orders-api", claims: Self.defaultClaims,
            keys: provider.keySet(now: { clock.withLock { $0 } }))
        let token = provider.accessToken(now: Self.now)
        guard case .providerUnavailable = await bearer.check(token, now: Self.now) else { Issue.record("unavailable"); return }
        #expect(bearer.checkNow(token, now: Self.now) == nil, "not cached")
        provider.state.withLock { $0.available = true }
        guard case .providerUnavailable = await bearer.check(token, now: Self.now) else {
            Issue.record("the failure is answered again within the failure interval"); return
        }
        #expect(provider.fetches == 1, "without fetching again")
        clock.withLock { $0 += ProviderKeySet.failureInterval }
        guard case .valid = await bearer.check(token, now: Self.now) else { Issue.record("valid once the provider answers"); return }
        #expect(provider.fetches == 2)
    }

    /// Found by a black-box audit: jwt-kit ties a key without `alg` to the first algorithm a
    /// token asks of it, so one forged PS256 token (signature never valid) made the provider's
    /// RSA key refuse every RS256 token after it — logins and bearer tokens alike.
    @Test func anRSAKeyWithoutAlgServesRS256AndPS256WhateverCameFirst() async throws {
        let provider = SigningProvider(namesRSAAlgorithm: false)
        let bearer = Self.bearer(provider)
        let forged = provider.token(header: #"{"alg":"PS256","kid":"rsa-1"}"#, payload: #"{"sub":"mallory"}"#).split(separator: ".")
        let garbage = forged[0] + "." + forged[1] + ".c2lnbmF0dXJl"
        #expect(Self.reason(await bearer.check(String(garbage), now: Self.now)) != nil, "the forgery is refused")
        guard case .valid = await bearer.check(provider.accessToken(alg: "RS256", now: Self.now), now: Self.now) else {
            Issue.record("RS256 after a PS256 forgery"); return
        }
        guard case .valid = await bearer.check(provider.accessToken(alg: "PS256", now: Self.now, ["jti": "2"]), now: Self.now) else {
            Issue.record("PS256 with the same key"); return
        }
        guard case .valid = await bearer.check(provider.accessToken(alg: "RS256", now: Self.now, ["jti": "3"]), now: Self.now) else {
            Issue.record("RS256 again"); return
        }
        // A key that names its algorithm serves that one only.
        let named = Self.bearer(SigningProvider())
        #expect(Self.reason(await named.check(SigningProvider().accessToken(alg: "PS256", now: Self.now), now: Self.now)) != nil)
    }

    @Test func eachTokenIsVerifiedOnceThenTheCacheAnswersUntilItsExp() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider)
        let token = provider.accessToken(now: Self.now)
        #expect(bearer.checkNow(token, now: Self.now) == nil, "unknown before its first check")
        let first = await bearer.check(token, now: Self.now)
        guard case .valid = first else { Issue.record("\(first)"); return }
        for offset in [0.0, 1, 1800, 3599] {
            #expect(bearer.checkNow(token, now: Self.now.addingTimeInterval(offset)) == first)
            #expect(await bearer.check(token, now: Self.now.addingTimeInterval(offset)) == first)
        }
        #expect(bearer.verificationCount == 1, "the signature was checked once")
        // At its exp the cached verdict turns into a refusal, still without verifying again.
        #expect(bearer.checkNow(token, now: Self.now.addingTimeInterval(3600)) == .invalid("token expired (exp)"))
        #expect(await bearer.check(token, now: Self.now.addingTimeInterval(7200)) == .invalid("token expired (exp)"))
        #expect(bearer.verificationCount == 1)

        // A refusal is remembered for a minute, then the token is looked at again.
        let wrong = provider.accessToken(now: Self.now, ["aud": "billing-api"])
        _ = await bearer.check(wrong, now: Self.now)
        #expect(Self.reason(bearer.checkNow(wrong, now: Self.now.addingTimeInterval(59)) ?? .valid(.init(attributes: [:], expiresAt: Self.now, handle: ""))) != nil)
        #expect(bearer.checkNow(wrong, now: Self.now.addingTimeInterval(61)) == nil)
        #expect(bearer.verificationCount == 2)
    }

    @Test func theCacheIsBounded() async throws {
        let provider = SigningProvider()
        let bearer = Self.bearer(provider, capacity: 3)
        var tokens: [String] = []
        for index in 0..<5 {
            let token = provider.accessToken(now: Self.now, ["jti": "t\(index)"])
            tokens.append(token)
            _ = await bearer.check(token, now: Self.now)
            #expect(bearer.cache.count <= 3)
        }
        #expect(bearer.checkNow(tokens[0], now: Self.now) == nil, "the oldest went")
        #expect(bearer.checkNow(tokens[4], now: Self.now) != nil, "the newest stays")
    }
}

extension BearerCheck {
    var attributes: JSONObject? {
        if case .valid(let identity) = self { return identity.attributes }
        return nil
    }
}
