import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Foundation
import HTTPTypes
import Testing

/// Phases 1 and 3 for machine clients: which credential a request presents on a route, the
/// precedence of `Authorization: Bearer` over the cookie, and the 401 that is never a redirect.
@Suite struct ProxyPolicyCredentialsTests {
    static func route(_ path: String, _ kinds: [RouteCredentials.Kind], auth: Route.Auth = .required, allow: [AllowRule]? = nil) -> Route {
        var route = Route(path: path, upstream: "api", auth: auth, allow: allow)
        route.credentials = RouteCredentials(kinds)
        return route
    }

    static let routes = [
        route("/keys/", [.apiKey]),
        route("/both/", [.cookie, .apiKey]),
        route("/jwt/", [.bearer]),
        route("/admin/", [.apiKey], allow: [AllowRule(conditions: [.init(attribute: "roles", patterns: ["admin"])])]),
        Route(path: "/open/", upstream: "api", auth: .none),
        Route(path: "/", upstream: "api", auth: .required),
    ]

    static let key = APIKeySecret.random()

    func begin(_ fixture: PolicyFixture, _ path: String, authorization: String? = nil, cookie: String? = nil, accept: String? = nil)
        throws -> (Exchange, HTTPRequest)
    {
        var headers: [(String, String)] = []
        if let authorization { headers.append(("Authorization", authorization)) }
        if let cookie { headers.append(("Cookie", cookie)) }
        if let accept { headers.append(("Accept", accept)) }
        var request = makeRequest(.get, path, headers: headers)
        return (try fixture.begin(&request), request)
    }

    @Test func anAPIKeyIsReadOnlyWhereTheRouteAcceptsIt() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let bearer = "Bearer " + Self.key.text
        #expect(try begin(fixture, "/keys/x", authorization: bearer).0.credential == .apiKey(Self.key.key))
        #expect(try begin(fixture, "/keys/x", authorization: "bEaReR  " + Self.key.text).0.credential == .apiKey(Self.key.key), "scheme in any case")
        #expect(try begin(fixture, "/jwt/x", authorization: bearer).0.credential == .unacceptable, "a key where only IdP tokens count")
        #expect(try begin(fixture, "/keys/x", authorization: "Bearer ck_short").0.credential == .unacceptable)
        #expect(try begin(fixture, "/keys/x", authorization: "Bearer eyJhbGciOi.x.y").0.credential == .unacceptable, "a JWT where only keys count")
        #expect(try begin(fixture, "/jwt/x", authorization: "Bearer eyJhbGciOi.x.y").0.credential == .bearer("eyJhbGciOi.x.y"))
        #expect(try begin(fixture, "/keys/x", authorization: "Basic YTpi").0.credential == nil, "not a bearer credential")
        // RFC 9110 §11.4: any run of spaces and tabs after the scheme (found by a black-box audit).
        #expect(try begin(fixture, "/keys/x", authorization: "Bearer\t" + Self.key.text).0.credential == .apiKey(Self.key.key))
        #expect(try begin(fixture, "/keys/x", authorization: "BEARER \t\t " + Self.key.text).0.credential == .apiKey(Self.key.key))
        #expect(try begin(fixture, "/jwt/x", authorization: "Bearer\teyJhbGciOi.x.y").0.credential == .bearer("eyJhbGciOi.x.y"))
        #expect(try begin(fixture, "/keys/x", authorization: "Bearer" + Self.key.text).0.credential == nil, "no blank: another scheme")
        let tabbed = try begin(fixture, "/x", authorization: "Bearer\t" + Self.key.text)
        #expect(tabbed.0.credential == .unacceptable && tabbed.0.dropsAuthorization, "a key on a cookie-only route, never forwarded")
        let backendToken = try begin(fixture, "/x", authorization: "Bearer eyJhbGciOi.x.y")
        #expect(backendToken.0.credential == nil, "a cookie-only route does not judge another bearer token")
        #expect(!backendToken.0.dropsAuthorization, "it is the backend's own, forwarded")
    }

    /// SPEC: "a kind the route does not accept, gets 401 ... invalid_token"; "an API key's never
    /// is [forwarded]". Found by a black-box audit: a key on a cookie-only route used to be
    /// ignored there (401 without WWW-Authenticate, or forwarded beside a valid cookie).
    @Test func anAPIKeyOnARouteWithoutAPIKeysIsRefusedAndNeverForwarded() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (keyed, _) = try begin(fixture, "/x", authorization: "Bearer " + Self.key.text, cookie: cookie, accept: "text/html")
        #expect(keyed.credential == .unacceptable, "judged alone, beside a valid cookie too")
        #expect(keyed.presentedID == nil && !keyed.needsLookup)
        guard case .respond(let refused) = fixture.policy.authorize(keyed) else { Issue.record("forwarded"); return }
        #expect(refused.head.status == .unauthorized, "never a redirect")
        #expect(refused.head.headerFields[.wwwAuthenticate] == #"Bearer error="invalid_token""#)

        let (open, _) = try begin(fixture, "/open/x", authorization: "Bearer " + Self.key.text)
        #expect(open.credential == nil, "a route without authentication does not judge it")
        #expect(open.dropsAuthorization, "but does not forward it either")
        guard case .forward = fixture.policy.authorize(open) else { Issue.record("refused"); return }

        // Found by an audit: `login.path`, forwarded to its backend, forwarded the key.
        let (login, _) = try begin(fixture, "/login", authorization: "Bearer " + Self.key.text, cookie: cookie)
        #expect(login.endpoint == .login)
        #expect(login.dropsAuthorization, "never forwarded on login.path either")
        let (loginOther, _) = try begin(fixture, "/login", authorization: "Bearer eyJhbGciOi.x.y")
        #expect(!loginOther.dropsAuthorization, "another bearer token is the backend's own")
    }

    /// SPEC: "a kind the route does not accept, gets 401 ... invalid_token (never a redirect)".
    /// Found by a black-box audit: a provider's token on a cookie-only route, without a session,
    /// got the login redirect (a browser) or a bare 401. With a valid cookie beside it, the
    /// cookie decides and the token is the backend's, forwarded.
    @Test func anotherBearerTokenWithoutASessionIsAKindTheRouteDoesNotAccept() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        for accept in ["text/html", "application/json"] {
            let (bare, _) = try begin(fixture, "/x", authorization: "Bearer eyJhbGciOi.x.y", accept: accept)
            guard case .respond(let refused) = fixture.policy.authorize(bare) else { Issue.record("forwarded"); return }
            #expect(refused.head.status == .unauthorized, "\(accept): never a redirect")
            #expect(refused.head.headerFields[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
            #expect(refused.head.headerFields[.setCookie] == nil, "no cookie was presented")
        }
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/x", headers: [("Authorization", "Bearer eyJhbGciOi.x.y"), ("Cookie", cookie)])
        let withSession = try await fixture.beginAndLookUp(&request)
        guard case .forward = fixture.policy.authorize(withSession) else { Issue.record("refused beside a valid cookie"); return }
        #expect(!withSession.dropsAuthorization)
        let (basic, _) = try begin(fixture, "/x", authorization: "Basic YTpi", accept: "text/html")
        guard case .respond(let usual) = fixture.policy.authorize(basic) else { Issue.record("forwarded"); return }
        #expect(usual.head.status == .unauthorized && usual.head.headerFields[.wwwAuthenticate] == nil, "not a bearer credential: the usual 401")
    }

    @Test func aBearerCredentialDecidesAloneEvenBesideAValidCookie() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (withBoth, _) = try begin(fixture, "/both/x", authorization: "Bearer ck_not-a-key", cookie: cookie)
        #expect(withBoth.presentedID == nil, "the cookie is not looked up")
        #expect(!withBoth.needsLookup)
        guard case .respond(let refused) = fixture.policy.authorize(withBoth) else { Issue.record("forwarded"); return }
        #expect(refused.head.status == .unauthorized)
        #expect(refused.head.headerFields[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
        #expect(refused.head.headerFields[.setCookie] == nil, "the cookie was not judged: not deleted")
        #expect(refused.body == Array(#"{"error":"unauthenticated"}"#.utf8))

        let (cookieOnly, _) = try begin(fixture, "/both/x", cookie: cookie)
        #expect(cookieOnly.presentedID != nil && cookieOnly.needsLookup, "without Authorization the cookie counts there")
        let (keyRoute, request) = try begin(fixture, "/keys/x", cookie: cookie)
        #expect(keyRoute.presentedID == nil && !keyRoute.needsLookup, "a route without cookie never looks one up")
        #expect(request.headerFields[.cookie] == nil, "and still does not forward it")
    }

    @Test func aFoundKeyPassesAllowLikeASession() throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        var (exchange, _) = try begin(fixture, "/admin/x", authorization: "Bearer " + Self.key.text)
        #expect(exchange.needsLookup)
        let now = Date()
        let key = APIKey(handle: SessionHandle.random(), name: "ci", attributes: ["sub": "ci-bot", "roles": ["reader"]], createdAt: now, lastUsedAt: nil, expiresAt: now + 3600)
        exchange.session = key.asSession
        guard case .respond(let forbidden) = fixture.policy.authorize(exchange) else { Issue.record("forwarded"); return }
        #expect(forbidden.head.status == .forbidden)
        exchange.session?.attributes["roles"] = ["admin"]
        guard case .forward = fixture.policy.authorize(exchange) else { Issue.record("not forwarded"); return }
        exchange.session = nil
        exchange.credentialRefused = true
        guard case .respond(let refused) = fixture.policy.authorize(exchange) else { Issue.record("forwarded"); return }
        #expect(refused.head.status == .unauthorized)
    }

    @Test func anAPIKeyIsNeverForwardedAndAnIdPTokenIs() throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        var (keyed, request) = try begin(fixture, "/keys/x", authorization: "Bearer " + Self.key.text)
        keyed.session = Session(handle: "h", attributes: ["sub": "ci-bot"], createdAt: Date(), lastSeenAt: Date(), expiresAt: Date() + 60)
        fixture.policy.prepareUpstreamRequest(&request, exchange: keyed)
        #expect(request.headerFields[.authorization] == nil)
        #expect(request.headerFields[HTTPField.Name("X-User-Id")!] == "ci-bot", "identity headers as for a session")

        var (token, tokenRequest) = try begin(fixture, "/jwt/x", authorization: "Bearer eyJ.a.b")
        token.session = Session(handle: "h", attributes: ["sub": "svc"], createdAt: Date(), lastSeenAt: Date(), expiresAt: Date() + 60)
        fixture.policy.prepareUpstreamRequest(&tokenRequest, exchange: token)
        #expect(tokenRequest.headerFields[.authorization] == "Bearer eyJ.a.b")
    }

    @Test func withoutACredentialAKeyOnlyRouteAnswers401EvenToBrowsers() throws {
        var login = LoginSettings()
        login.page = "/login"
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes, login: login))
        let (exchange, _) = try begin(fixture, "/keys/x", accept: "text/html")
        guard case .respond(let refused) = fixture.policy.authorize(exchange) else { Issue.record("forwarded"); return }
        #expect(refused.head.status == .unauthorized, "a login page cannot help: the route takes no cookie")
        #expect(refused.head.headerFields[.wwwAuthenticate] == "Bearer")
        let (both, _) = try begin(fixture, "/both/x", accept: "text/html")
        guard case .respond(let redirect) = fixture.policy.authorize(both) else { Issue.record("forwarded"); return }
        #expect(redirect.head.status == .seeOther, "a route that takes the cookie still sends browsers to log in")
    }

    /// SPEC: "a kind the route does not accept" gets 401 `invalid_token`; a session cookie is a
    /// kind, so on a key-only route a signed cookie gets it too (found by a black-box audit:
    /// it used to be treated as no credential at all), the session never looked up.
    @Test func aSessionCookieOnAKeyOnlyRouteIsAKindItDoesNotAccept() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: Self.routes))
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (exchange, _) = try begin(fixture, "/keys/x", cookie: cookie)
        #expect(exchange.credential == .unacceptable)
        #expect(exchange.presentedID == nil && !exchange.needsLookup)
        guard case .respond(let refused) = fixture.policy.authorize(exchange) else { Issue.record("forwarded"); return }
        #expect(refused.head.status == .unauthorized)
        #expect(refused.head.headerFields[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
        let (forged, _) = try begin(fixture, "/keys/x", cookie: "cloakroom_session=not-signed")
        #expect(forged.credential == nil, "a cookie that is not ours is no credential")
        let (both, _) = try begin(fixture, "/both/x", cookie: cookie)
        #expect(both.credential == nil && both.presentedID != nil, "a route that takes the cookie looks it up")
    }
}
