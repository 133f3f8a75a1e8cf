import Testing

@testable import CloakroomConfig

/// `routes[].credentials`: which credentials a route accepts, and the rules relating it to
/// `auth` and `login.oidc`.
@Suite("Decoding route credentials")
struct CredentialsConfigTests {
    /// With an admin API, which issues API keys.
    private func config(_ credentials: String, auth: String = "required", oidc: String? = nil, admin: Bool = true) -> String {
        "listen: [{ address: \"127.0.0.1:8080\" }]\n"
            + "routes: [{ path: /, upstream: api, auth: \(auth), credentials: \(credentials) }]\n"
            + "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n" + (oidc ?? "")
            + (admin ? "admin: { listen: \"127.0.0.1:9901\", token: \"\(String(repeating: "t", count: 32))\" }\n" : "")
    }

    static let oidc = """
        login:
          oidc:
            issuer: "https://idp.example.com"
            client_id: cloakroom
            client_secret: s3cret
            redirect_url: "https://app.example.com/oauth2/callback"

        """

    @Test func theDefaultIsTheCookieAlone() throws {
        let configuration = try #require(load(config("[cookie]")))
        #expect(configuration.routes[0].credentials.isCookieOnly)
        let plain = try #require(load(minimal(adding: "")))
        let cookieOnly = plain.routes.allSatisfy { $0.credentials.isCookieOnly }
        #expect(cookieOnly)
    }

    @Test func kindsAreRead() throws {
        let configuration = try #require(load(config("[api_key, cookie, bearer]", oidc: Self.oidc + "    bearer_audience: api\n")))
        let credentials = configuration.routes[0].credentials
        #expect(credentials.kinds == [.cookie, .apiKey, .bearer])
        #expect(credentials.acceptsBearerKind)
    }

    @Test func unknownRepeatedAndEmptyListsAreReported() {
        let found = problems(in: config("[api_key, password, api_key]"))
        #expect(found.map(\.path) == ["routes[0].credentials[1]", "routes[0].credentials[2]"], "\(found)")
        #expect(found.first?.message.contains("cookie, api_key, bearer") == true)
        expectSingleProblem(config("[]"), at: "routes[0].credentials", "at least one")
    }

    @Test func bearerNeedsTheProviderAndItsAudience() {
        expectSingleProblem(config("[bearer]"), at: "routes[0].credentials", "needs login.oidc")
        expectSingleProblem(config("[bearer]", oidc: Self.oidc), at: "routes[0].credentials", "login.oidc.bearer_audience")
    }

    /// Found by an audit: settings that could never take effect were accepted.
    @Test func apiKeysNeedSomewhereToBeIssued() {
        expectSingleProblem(config("[api_key]", admin: false), at: "routes[0].credentials", "needs the admin API")
        let redis = config("[api_key]", admin: false) + "session: { secrets: [\"\(String(repeating: "s", count: 32))\"], store: { redis: {} } }\n"
        #expect(load(redis) != nil, "another instance sharing the store may issue them")
    }

    @Test func aBearerAudienceNeedsABearerRoute() {
        expectSingleProblem(
            config("[cookie]", oidc: Self.oidc + "    bearer_audience: api\n"), at: "login.oidc.bearer_audience", "no route accepts bearer")
    }

    @Test func machineCredentialsNeedASessionLookingRoute() {
        expectSingleProblem(config("[api_key]", auth: "none"), at: "routes[0].credentials", "auth: optional or required")
    }
}
