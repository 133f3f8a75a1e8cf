import CloakroomConfig
import CloakroomProxy
import HTTPTypes
import Testing

/// SPEC "CORS" on the policy alone: preflights answered without a session, the fields on the
/// proxy's own 401/403 and on the upstream's response (its own CORS fields replaced), and
/// credentialed origins as trusted origins for the CSRF rule.
@Suite("CORS per route")
struct CORSPolicyTests {
    static let app = "https://app.example.test"

    static func fixture(credentials: Bool = true, origins: [String] = [app], networks: [CIDRBlock] = []) -> PolicyFixture {
        let cors = CORSSettings(
            origins: origins, methods: ["GET", "POST", "DELETE"], headers: ["Content-Type", "X-Trace"], allowCredentials: credentials,
            maxAge: .seconds(900))
        var api = Route(path: "/api/", upstream: "api", auth: .required, networks: networks)
        api.cors = cors
        return PolicyFixture(makeConfiguration(routes: [api, Route(path: "/", upstream: "api", auth: .required)]))
    }

    static func answer(_ fixture: PolicyFixture, _ exchange: Exchange) -> LocalResponse? {
        guard case .respond(let response) = fixture.policy.authorize(exchange) else { return nil }
        return response
    }

    @Test func aPreflightIsAnsweredWithoutASessionOnARequiredRoute() throws {
        let fixture = Self.fixture()
        var request = makeRequest(
            .options, "/api/items",
            headers: [
                ("Origin", Self.app), ("Access-Control-Request-Method", "DELETE"), ("Access-Control-Request-Headers", "content-type, x-trace"),
            ])
        let exchange = try fixture.begin(&request)
        #expect(exchange.endpoint == .preflight)
        #expect(!exchange.needsLookup)
        let response = try #require(Self.answer(fixture, exchange))
        let fields = response.head.headerFields
        #expect(response.head.status == .noContent)
        #expect(fields[.accessControlAllowOrigin] == Self.app)
        #expect(fields[.accessControlAllowCredentials] == "true")
        #expect(fields[.accessControlAllowMethods] == "GET, POST, DELETE")
        #expect(fields[.accessControlAllowHeaders] == "Content-Type, X-Trace")
        #expect(fields[.accessControlMaxAge] == "900")
        #expect(fields[.vary]?.contains("Origin") == true)
    }

    /// SPEC lists `-Allow-Headers` in every preflight answer: a route that allows no request
    /// headers sends it empty (found by a black-box audit: it was left out).
    @Test func aRouteWithoutHeadersAnswersAnEmptyAllowHeaders() throws {
        var api = Route(path: "/api/", upstream: "api", auth: .required)
        api.cors = CORSSettings(origins: ["*"], methods: ["GET"], headers: [], allowCredentials: false, maxAge: .seconds(600))
        let fixture = PolicyFixture(makeConfiguration(routes: [api]))
        var request = makeRequest(.options, "/api/items", headers: [("Origin", "https://any.example"), ("Access-Control-Request-Method", "GET")])
        let response = try #require(Self.answer(fixture, try fixture.begin(&request)))
        #expect(response.head.status == .noContent)
        #expect(response.head.headerFields[.accessControlAllowHeaders] == "")
    }

    @Test(arguments: [
        ("https://evil.example.test", "GET", ""), (app, "PUT", ""), (app, "GET", "Authorization"), (app, "GET", "content-type, x-other"),
    ])
    func aPreflightForAnythingNotAllowedGets403WithoutCORSFields(origin: String, method: String, headers: String) throws {
        let fixture = Self.fixture()
        var fields = [("Origin", origin), ("Access-Control-Request-Method", method)]
        if !headers.isEmpty { fields.append(("Access-Control-Request-Headers", headers)) }
        var request = makeRequest(.options, "/api/items", headers: fields)
        let response = try #require(Self.answer(fixture, try fixture.begin(&request)))
        #expect(response.head.status == .forbidden)
        #expect(!response.head.headerFields.contains { $0.name.canonicalName.hasPrefix("access-control-") })
        #expect(response.head.headerFields[.vary]?.hasPrefix("Origin") == true, "a cache keeps it apart from the 204")
    }

    @Test func aNetworksRefusalCarriesTheFieldsForAnAllowedOrigin() throws {
        let fixture = Self.fixture(networks: [CIDRBlock("10.0.0.0/8")!])
        var request = makeRequest(.get, "/api/items", headers: [("Origin", Self.app)])
        let exchange = try fixture.begin(&request)
        #expect(exchange.outsideNetworks)
        let response = try #require(Self.answer(fixture, exchange))
        #expect(response.head.status == .forbidden)
        #expect(response.head.headerFields[.accessControlAllowOrigin] == Self.app)
        #expect(response.head.headerFields[.accessControlAllowCredentials] == "true")
        #expect(response.head.headerFields[.vary] == "Origin")
        var preflight = makeRequest(.options, "/api/items", headers: [("Origin", Self.app), ("Access-Control-Request-Method", "GET")])
        let refused = try #require(Self.answer(fixture, try fixture.begin(&preflight)))
        #expect(refused.head.status == .forbidden)
        #expect(refused.head.headerFields[.accessControlAllowOrigin] == nil, "a refused preflight carries no CORS field")
    }

    @Test func theProxysOtherAnswersCarryTheFieldsThroughTheExchange() throws {
        let fixture = Self.fixture()
        var request = makeRequest(.get, "/api/items", headers: [("Origin", Self.app)])
        let exchange = try fixture.begin(&request)
        var fields = ProxyError(.upstreamUnavailable).response(requestID: "req-1").head.headerFields
        exchange.addCORSFields(to: &fields)
        #expect(fields[.accessControlAllowOrigin] == Self.app)
        #expect(fields[.vary] == "Origin")
        var foreign = makeRequest(.get, "/api/items", headers: [("Origin", "https://evil.example.test")])
        var varying = HTTPFields()
        try fixture.begin(&foreign).addCORSFields(to: &varying)
        #expect(Array(varying) == [HTTPField(name: .vary, value: "Origin")], "no CORS field for an origin not listed, but Vary")
    }

    @Test func anOPTIONSWithoutTheRequestMethodIsNoPreflight() throws {
        let fixture = Self.fixture()
        var request = makeRequest(.options, "/api/items", headers: [("Origin", Self.app)])
        #expect(try fixture.begin(&request).endpoint == .proxied)
        var elsewhere = makeRequest(.options, "/other", headers: [("Origin", Self.app), ("Access-Control-Request-Method", "GET")])
        #expect(try fixture.begin(&elsewhere).endpoint == .proxied, "a route without cors forwards its OPTIONS")
    }

    @Test func theProxysOwn401CarriesTheFieldsForAnAllowedOrigin() throws {
        let fixture = Self.fixture()
        var request = makeRequest(.get, "/api/items", headers: [("Origin", "HTTPS://app.example.test")])
        let response = try #require(Self.answer(fixture, try fixture.begin(&request)))
        #expect(response.head.status == .unauthorized)
        #expect(response.head.headerFields[.accessControlAllowOrigin] == "HTTPS://app.example.test", "the request's origin, as sent")
        #expect(response.head.headerFields[.accessControlAllowCredentials] == "true")
        #expect(response.head.headerFields[.vary] == "Origin")
        var foreign = makeRequest(.get, "/api/items", headers: [("Origin", "https://evil.example.test")])
        let refused = try #require(Self.answer(fixture, try fixture.begin(&foreign)))
        #expect(refused.head.headerFields[.accessControlAllowOrigin] == nil)
        // Found by an audit: without `Vary: Origin` here a cache could keep the answer for the
        // listed origin too; the backend's responses on the route already vary.
        #expect(refused.head.headerFields[.vary] == "Origin")
        var none = makeRequest(.get, "/api/items")
        #expect(try #require(Self.answer(fixture, try fixture.begin(&none))).head.headerFields[.vary] == "Origin")
    }

    @Test func theUpstreamsCORSFieldsAreReplaced() async throws {
        let fixture = Self.fixture(credentials: false)
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/api/items", headers: [("Origin", Self.app), ("Cookie", cookie)])
        let exchange = try await fixture.beginAndLookUp(&request)
        var response = makeResponse(
            .ok,
            headers: [
                ("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true"), ("Access-Control-Expose-Headers", "X-A"),
                ("Vary", "Accept-Encoding"),
            ])
        _ = fixture.policy.filterResponse(&response, exchange: exchange)
        #expect(values("Access-Control-Allow-Origin", in: response.headerFields) == [Self.app])
        #expect(values("Access-Control-Allow-Credentials", in: response.headerFields) == [], "not set on this route")
        #expect(values("Access-Control-Expose-Headers", in: response.headerFields) == [])
        #expect(values("Vary", in: response.headerFields) == ["Accept-Encoding", "Origin"])

        var foreign = makeRequest(.get, "/api/items", headers: [("Origin", "https://evil.example.test"), ("Cookie", cookie)])
        let foreignExchange = try await fixture.beginAndLookUp(&foreign)
        var upstream = makeResponse(.ok, headers: [("Access-Control-Allow-Origin", "*")])
        _ = fixture.policy.filterResponse(&upstream, exchange: foreignExchange)
        #expect(values("Access-Control-Allow-Origin", in: upstream.headerFields) == [], "the route's rules, not the upstream's")
        #expect(values("Vary", in: upstream.headerFields) == ["Origin"], "the answer varies with Origin all the same")
    }

    @Test func credentialedOriginsAreTrustedForCSRFOnTheirRouteOnly() async throws {
        let fixture = Self.fixture(credentials: true)
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let crossSite = [("Origin", Self.app), ("Sec-Fetch-Site", "cross-site"), ("Cookie", cookie)]
        var onRoute = makeRequest(.post, "/api/items", headers: crossSite)
        #expect(try !fixture.begin(&onRoute).crossSite)
        var elsewhere = makeRequest(.post, "/other", headers: crossSite)
        #expect(try fixture.begin(&elsewhere).crossSite)
        let uncredentialed = Self.fixture(credentials: false)
        let (_, otherCookie) = try await uncredentialed.login(["sub": "alice"])
        var plain = makeRequest(.post, "/api/items", headers: [("Origin", Self.app), ("Sec-Fetch-Site", "cross-site"), ("Cookie", otherCookie)])
        let exchange = try uncredentialed.begin(&plain)
        #expect(exchange.crossSite, "without allow_credentials the origin is not trusted for cookies")
        let answer = try #require(Self.answer(uncredentialed, exchange))
        #expect(answer.head.status == .forbidden)
        #expect(answer.head.headerFields[.accessControlAllowOrigin] == Self.app, "the CSRF 403 is readable by the page")
    }
}
