import CloakroomOIDC
import CloakroomSessions
import Foundation
import Testing

@Suite struct PendingLoginTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)

    @Test func sealedValuesOpenOnlyUnalteredUnexpiredAndWithOurKeys() throws {
        let seal = PendingLoginSeal(secrets: [Self.secret])
        let login = PendingLogin.make(next: "/reports?x=1", now: Self.now)
        let value = seal.seal(login)
        #expect(!value.contains(login.verifier) && !value.contains(login.nonce), "the browser cannot read them")
        #expect(seal.open(value, now: Self.now) == login)
        #expect(seal.open(value, now: Self.now.addingTimeInterval(PendingLogin.lifetime + 1)) == nil, "expired")

        var tampered = Array(value)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        #expect(seal.open(String(tampered), now: Self.now) == nil, "altered")
        #expect(PendingLoginSeal(secrets: [Array("another-secret-another-secret-00".utf8)]).open(value, now: Self.now) == nil)
        // Rotation: a new first secret still opens values sealed with the old one.
        #expect(PendingLoginSeal(secrets: [Array("new-secret-new-secret-new-secret".utf8), Self.secret]).open(value, now: Self.now) == login)
    }

    /// The tokens a session keeps are sealed in its private part (found by an audit: refresh
    /// tokens were in clear in Redis), and open with every secret, as the cookie's do.
    @Test func sessionTokensAreSealedAndOpenAfterRotation() {
        let tokens = TokenSet(
            idToken: "id.token.x", accessToken: "access-token-x", refreshToken: "refresh-token-x",
            issuedAt: Self.now, expiresAt: Self.now.addingTimeInterval(300))
        let seal = TokenSeal(secrets: [Self.secret])
        let sealed = seal.seal(tokens)
        #expect(sealed.keys.sorted() == ["sealed"])
        let text = JSONValue.object(sealed).jsonText
        #expect(!text.contains("access-token-x") && !text.contains("refresh-token-x") && !text.contains("id.token.x"))
        #expect(seal.open(sealed) == tokens)
        #expect(TokenSeal(secrets: [Array("new-secret-new-secret-new-secret".utf8), Self.secret]).open(sealed) == tokens)
        #expect(TokenSeal(secrets: [Array("another-secret-another-secret-00".utf8)]).open(sealed).refreshToken == nil, "no other key opens it")
        #expect(seal.open(tokens.secrets) == tokens, "a private part from before sealing is read as it is")
    }

    @Test func pkceChallengeIsS256OfTheVerifier() {
        // RFC 7636 appendix B.
        var login = PendingLogin.make(next: "/", now: Self.now)
        login.verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(login.codeChallenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }
}

@Suite struct TokenSetTests {
    static let issued = Date(timeIntervalSince1970: 1_800_000_000)

    func tokens(lifetime: Double, refresh: Bool = true) -> TokenSet {
        TokenSet(idToken: "i", accessToken: "a", refreshToken: refresh ? "r" : nil, issuedAt: Self.issued, expiresAt: Self.issued.addingTimeInterval(lifetime))
    }

    @Test func refreshWhenLessThanAThirdOfTheLifetimeIsLeftAtMostSixtySeconds() {
        // 90 s lifetime: refresh once fewer than 30 s are left.
        #expect(!tokens(lifetime: 90).needsRefresh(now: Self.issued.addingTimeInterval(59)))
        #expect(tokens(lifetime: 90).needsRefresh(now: Self.issued.addingTimeInterval(61)))
        // One hour: a third would be 20 minutes; at most 60 s.
        #expect(!tokens(lifetime: 3600).needsRefresh(now: Self.issued.addingTimeInterval(3600 - 61)))
        #expect(tokens(lifetime: 3600).needsRefresh(now: Self.issued.addingTimeInterval(3600 - 59)))
        #expect(tokens(lifetime: 3600).needsRefresh(now: Self.issued.addingTimeInterval(4000)), "expired")
        // Without a refresh token: nothing before expiry; once expired, the refresh that fails
        // for want of one ends the session.
        #expect(!tokens(lifetime: 90, refresh: false).needsRefresh(now: Self.issued.addingTimeInterval(89)), "nothing to refresh with")
        #expect(tokens(lifetime: 10, refresh: false).needsRefresh(now: Self.issued.addingTimeInterval(20)), "expired")
    }

    @Test func privatePartRoundTrip() {
        let set = tokens(lifetime: 300)
        #expect(TokenSet(secrets: set.secrets) == set)
        #expect(Set(set.secrets.keys) == ["id_token", "access_token", "refresh_token", "issued_at", "expires_at"])
    }
}
