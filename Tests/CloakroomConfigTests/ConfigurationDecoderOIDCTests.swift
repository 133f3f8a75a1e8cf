import Testing

@testable import CloakroomConfig

/// `login.oidc`: read and checked offline, every problem with its key path.
@Suite("Decoding login.oidc")
struct ConfigurationDecoderOIDCTests {
    static func oidc(_ body: String) -> String {
        minimal(adding: "login:\n  oidc:\n" + body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n")
    }

    static let valid = """
        issuer: "https://idp.example.com/realms/acme"
        client_id: cloakroom
        client_secret: "${SECRET}"
        redirect_url: "https://app.example.com/oauth2/callback"
        """

    @Test func defaultsFollowTheContract() throws {
        let configuration = try ConfigurationLoader.parse(Self.oidc(Self.valid), environment: ["SECRET": "s3cret"], files: nil)
        let oidc = try #require(configuration.login.oidc)
        #expect(oidc.issuer == "https://idp.example.com/realms/acme")
        #expect(oidc.clientSecret == "s3cret")
        #expect(oidc.scopes == ["openid", "email", "profile"])
        #expect(oidc.claims.map(\.attribute) == ["sub", "email", "name"])
        #expect(oidc.name == "single sign-on")
        #expect(oidc.caPath == nil && oidc.passAccessToken == false && oidc.bearerAudience == nil)
        #expect(oidc.backchannelLogoutPath == "/oauth2/backchannel-logout")
        #expect(oidc.endSession)
        #expect(oidc.callbackPath == "/oauth2/callback")
        #expect(oidc.redirectOrigin == "https://app.example.com")
    }

    @Test func openidIsAlwaysRequestedAndClaimsKeepFileOrder() throws {
        let yaml = Self.oidc(Self.valid + "\nscopes: [email, groups]\nclaims: { sub: preferred_username, roles: groups }\npass_access_token: true")
        let oidc = try #require(try ConfigurationLoader.parse(yaml, environment: ["SECRET": "s"], files: nil).login.oidc)
        #expect(oidc.scopes == ["openid", "email", "groups"])
        #expect(oidc.claims == [ClaimMapping(attribute: "sub", claim: "preferred_username"), ClaimMapping(attribute: "roles", claim: "groups")])
        #expect(oidc.passAccessToken)
    }

    @Test func plainHTTPIssuerOnlyOnLoopback() throws {
        let loopback = Self.oidc(Self.valid.replacingOccurrences(of: "https://idp.example.com/realms/acme", with: "http://127.0.0.1:9400"))
        #expect(try ConfigurationLoader.parse(loopback, environment: ["SECRET": "s"], files: nil).login.oidc?.issuer == "http://127.0.0.1:9400")
        let remote = Self.oidc(Self.valid.replacingOccurrences(of: "https://idp.example.com", with: "http://idp.example.com"))
        let found = problems(in: remote, environment: ["SECRET": "s"], files: nil)
        #expect(found.map(\.path) == ["login.oidc.issuer"])
        #expect(found.first?.message.contains("https") == true)
    }

    @Test func everyProblemWithItsKeyPath() {
        let yaml = Self.oidc("""
            issuer: "not a url"
            redirect_url: "/relative"
            claims: { email: email }
            end_session: maybe
            extra_key: 1
            """)
        let found = problems(in: yaml, files: nil).map(\.path)
        for path in ["login.oidc.issuer", "login.oidc.client_id", "login.oidc.redirect_url", "login.oidc.claims", "login.oidc.end_session", "login.oidc.extra_key"] {
            #expect(found.contains(path), "\(path) in \(found)")
        }
    }

    @Test func theProxysOwnPathsMustNotCollide() {
        let yaml = Self.oidc(Self.valid.replacingOccurrences(of: "/oauth2/callback", with: "/logout"))
        let found = problems(in: yaml, environment: ["SECRET": "s"], files: nil)
        #expect(found.map(\.path) == ["login.oidc.redirect_url"], "\(found)")
    }
}
