import CloakroomConfig
import CloakroomProxy
import HTTPTypes
import Testing

/// SPEC "Client address" and `routes[].networks`, on the policy alone: who the client is behind
/// trusted proxies, what the upstream's `X-Forwarded-*` say, and 403 before any lookup.
@Suite("Client address and networks")
struct ClientAddressRuleTests {
    static let balancer = ClientInfo(address: "10.0.0.5", isSecure: false)
    static let stranger = ClientInfo(address: "198.51.100.9", isSecure: false)

    static func configuration(trusted: [String], routes: [Route]? = nil) -> Configuration {
        var configuration = makeConfiguration(
            routes: routes ?? [Route(path: "/public/", upstream: "api", auth: .none), Route(path: "/", upstream: "api", auth: .required)])
        configuration.client.trustedProxies = trusted.map { CIDRBlock($0)! }
        return configuration
    }

    /// Phases 1 and 4: the client the exchange names, and the upstream's forwarding fields.
    static func forwarded(
        _ fixture: PolicyFixture, client: ClientInfo, headers: [(String, String)]
    ) throws -> (client: ClientInfo, forwardedFor: [String], proto: [String]) {
        var request = makeRequest(.get, "/public/x", headers: headers)
        let exchange = try fixture.begin(&request, client: client)
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        return (exchange.client, values("X-Forwarded-For", in: request.headerFields), values("X-Forwarded-Proto", in: request.headerFields))
    }

    @Test func aTrustedProxysForwardedForAndProtoCount() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8"]))
        let result = try Self.forwarded(
            fixture, client: Self.balancer, headers: [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
        #expect(result.client.address == "203.0.113.7")
        #expect(result.client.isSecure)
        #expect(result.forwardedFor == ["203.0.113.7"], "upstream gets the one derived address, not the chain")
        #expect(result.proto == ["https"])
    }

    @Test func theRightMostEntryThatIsNotATrustedProxyIsTheClient() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8", "2001:db8::/32"]))
        // A client-supplied (spoofed) first entry, the client, then two trusted hops; in two fields.
        let result = try Self.forwarded(
            fixture, client: Self.balancer,
            headers: [("X-Forwarded-For", "1.2.3.4, 203.0.113.7"), ("X-Forwarded-For", "[2001:db8::1]:443 , 10.1.1.1")])
        #expect(result.client.address == "203.0.113.7")
        #expect(result.forwardedFor == ["203.0.113.7"])
    }

    @Test func everyEntryTrustedGivesTheLeftMostOne() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8"]))
        let result = try Self.forwarded(fixture, client: Self.balancer, headers: [("X-Forwarded-For", "10.9.9.9, 10.1.1.1")])
        #expect(result.client.address == "10.9.9.9")
    }

    @Test func anEntryThatIsNoAddressStopsAtTheLastTrustedHop() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8"]))
        let result = try Self.forwarded(fixture, client: Self.balancer, headers: [("X-Forwarded-For", "unknown, 10.1.1.1")])
        #expect(result.client.address == "10.1.1.1")
        #expect(result.forwardedFor == ["10.1.1.1"])
    }

    @Test func aTrustedProxyWithoutForwardedForIsTheClient() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8"]))
        let result = try Self.forwarded(fixture, client: Self.balancer, headers: [("X-Forwarded-Proto", "http")])
        #expect(result.client.address == "10.0.0.5")
        #expect(!result.client.isSecure)
        #expect(result.forwardedFor == ["10.0.0.5"])
    }

    @Test func anyOtherPeersForwardingFieldsAreIgnored() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["10.0.0.0/8"]))
        let result = try Self.forwarded(
            fixture, client: Self.stranger, headers: [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
        #expect(result.client.address == "198.51.100.9")
        #expect(!result.client.isSecure)
        #expect(result.forwardedFor == ["198.51.100.9"])
        #expect(result.proto == ["http"])
        let untrusting = PolicyFixture(Self.configuration(trusted: []))
        let same = try Self.forwarded(untrusting, client: Self.balancer, headers: [("X-Forwarded-For", "203.0.113.7")])
        #expect(same.forwardedFor == ["10.0.0.5"], "without trusted_proxies nobody is trusted")
    }

    @Test func theProtoOfTheNearestProxyCountsForTheCookieAndTheOwnOrigin() async throws {
        var configuration = Self.configuration(trusted: ["10.0.0.0/8"])
        configuration.routes = [Route(path: "/", upstream: "api", auth: .optional)]
        let fixture = PolicyFixture(configuration)
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        // Behind a TLS-terminating balancer the browser's origin is https://: not cross-site.
        var post = makeRequest(
            .post, "/x", headers: [("Cookie", cookie), ("Origin", "https://proxy.example"), ("X-Forwarded-Proto", "http, https")])
        let exchange = try fixture.begin(&post, client: Self.balancer)
        #expect(exchange.client.isSecure)
        #expect(!exchange.crossSite)
        let effects = [SessionEffect.login(["sub": "bob"], replacing: nil)]
        let cookies = try #require(try await fixture.policy.apply(effects, exchange: exchange).get())
        #expect(cookieAttributes(ofSetCookie: cookies[0]).contains("Secure"), "secure: auto follows the proxy's X-Forwarded-Proto")
        // The same request straight from a stranger: its proto is ignored, so https:// is foreign.
        var direct = makeRequest(
            .post, "/x", headers: [("Cookie", cookie), ("Origin", "https://proxy.example"), ("X-Forwarded-Proto", "https")])
        #expect(try fixture.begin(&direct, client: Self.stranger).crossSite)
    }

    // MARK: networks

    static let networked = [
        Route(path: "/internal/", upstream: "api", auth: .required, networks: [CIDRBlock("10.0.0.0/8")!, CIDRBlock("fd00::/8")!]),
        Route(path: "/", upstream: "api", auth: .none),
    ]

    @Test func networksRefuseOtherAddressesWith403BeforeAnyLookup() async throws {
        let fixture = PolicyFixture(Self.configuration(trusted: [], routes: Self.networked))
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/internal/x", headers: [("Cookie", cookie)])
        let exchange = try fixture.begin(&request, client: Self.stranger)
        #expect(exchange.outsideNetworks)
        #expect(!exchange.needsLookup, "refused before any session lookup")
        guard case .respond(let response) = fixture.policy.authorize(exchange) else {
            Issue.record("expected a local answer")
            return
        }
        #expect(response.head.status == .forbidden)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"error\":\"forbidden\"}")
        var open = makeRequest(.get, "/other")
        #expect(try !fixture.begin(&open, client: Self.stranger).outsideNetworks, "a route without networks admits anyone")
    }

    /// The pages the proxy answers itself under a route are behind its networks too (found by
    /// an audit: a refused client could guess passwords at the built-in login, sign in and use
    /// the self-service page, while a backend's login under the same route answered 403).
    @Test func theProxysOwnPagesAreBehindTheirRoutesNetworks() async throws {
        var configuration = Self.configuration(
            trusted: [], routes: [Route(path: "/", upstream: "api", auth: .required, networks: [CIDRBlock("10.0.0.0/8")!])])
        configuration.login.usersFile = "/nonexistent/users.yaml"
        configuration.session.selfService = "/.cloakroom/sessions"
        let fixture = PolicyFixture(configuration)
        for (method, path) in [
            (HTTPRequest.Method.get, "/login"), (.post, "/login"), (.post, "/logout"), (.get, "/.cloakroom/sessions"),
            (.post, "/.cloakroom/sessions/end-others"),
        ] {
            var refused = makeRequest(method, path)
            let outside = try fixture.begin(&refused, client: Self.stranger)
            #expect(outside.outsideNetworks && !outside.needsLookup, "\(method) \(path)")
            if case .respond(let response) = fixture.policy.authorize(outside) {
                #expect(response.head.status == .forbidden, "\(method) \(path)")
            } else {
                Issue.record("\(method) \(path): not answered 403")
            }
            var admitted = makeRequest(method, path)
            #expect(try !fixture.begin(&admitted, client: Self.balancer).outsideNetworks, "\(method) \(path)")
        }
    }

    @Test(arguments: [("10.2.3.4", true), ("::ffff:10.2.3.4", true), ("fd12::1", true), ("11.0.0.1", false), ("fe80::1", false), ("unknown", false)])
    func networksAdmitIPv4AndIPv6Peers(address: String, admitted: Bool) async throws {
        let fixture = PolicyFixture(Self.configuration(trusted: [], routes: Self.networked))
        var request = makeRequest(.get, "/internal/x")
        let exchange = try fixture.begin(&request, client: ClientInfo(address: address, isSecure: false))
        #expect(exchange.outsideNetworks == !admitted)
    }

    @Test(arguments: [("::ffff:10.2.3.4", "10.2.3.4"), ("10.2.3.4", "10.2.3.4"), ("::1", "::1"), ("unknown", "unknown")])
    func anIPv4MappedPeerIsNamedByItsIPv4Address(peer: String, named: String) {
        #expect(ClientInfo(address: peer, isSecure: false).address == named)
    }

    @Test func networksJudgeTheDerivedClientAddress() throws {
        let fixture = PolicyFixture(Self.configuration(trusted: ["192.0.2.0/24"], routes: Self.networked))
        var inside = makeRequest(.get, "/internal/x", headers: [("X-Forwarded-For", "10.7.7.7")])
        #expect(try !fixture.begin(&inside, client: ClientInfo(address: "192.0.2.1", isSecure: false)).outsideNetworks)
        var outside = makeRequest(.get, "/internal/x", headers: [("X-Forwarded-For", "203.0.113.1")])
        #expect(try fixture.begin(&outside, client: ClientInfo(address: "192.0.2.1", isSecure: false)).outsideNetworks)
        var spoofed = makeRequest(.get, "/internal/x", headers: [("X-Forwarded-For", "10.7.7.7")])
        #expect(try fixture.begin(&spoofed, client: Self.stranger).outsideNetworks, "an untrusted peer cannot claim an inside address")
    }
}
