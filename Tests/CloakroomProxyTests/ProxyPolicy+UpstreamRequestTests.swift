import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// Phase 4: the request the backend receives.
@Suite struct ProxyPolicyUpstreamRequestTests {
    /// Headers a hostile client sends to impersonate someone or to lie about the connection.
    static let spoofed: [(String, String)] = [
        ("X-Forwarded-For", "10.0.0.1"), ("x-forwarded-proto", "https"), ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "for=10.0.0.1;proto=https"), ("X-Request-Id", "client-chosen"), ("Expect", "100-continue"),
        ("X-User-Id", "mallory"), ("X_User_Id", "mallory"), ("x-user-email", "m@evil.example"),
        ("X-User-Roles", "admin"), ("X-User-Impersonate", "root"),
    ] + otherSpellings

    /// The forwarding fields' other names, and the URL overrides some frameworks honour.
    static let otherSpellings: [(String, String)] = [
        ("X-Forwarded-Ssl", "on"), ("X-Forwarded-Scheme", "https"), ("x_forwarded_protocol", "https"), ("Front-End-Https", "on"),
        ("X-Url-Scheme", "https"), ("X-Forwarded-Prefix", "/evil"), ("X-Forwarded-Server", "evil"), ("True-Client-IP", "10.0.0.9"),
        ("X-Client-IP", "10.0.0.9"), ("X-Cluster-Client-IP", "10.0.0.9"), ("X-Original-URL", "/admin"), ("X-Rewrite-URL", "/admin"),
    ]

    func prepared(
        _ fixture: PolicyFixture, path: String = "/private", headers: [(String, String)],
        client: ClientInfo = plainClient, requestID: String = "rid-up"
    ) async throws -> (HTTPRequest, Exchange) {
        var request = makeRequest(.get, path, authority: "app.example:8080", headers: headers)
        let exchange = try await fixture.beginAndLookUp(&request, client: client, requestID: requestID)
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        return (request, exchange)
    }

    @Test func replacesClientCopiesWithTheProxysOwn() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice", "email": "alice@example.com", "roles": ["reader", "writer"]])
        let (request, exchange) = try await prepared(
            fixture, headers: Self.spoofed + [("Cookie", cookie), ("Accept", "application/json")])
        #expect(exchange.session != nil)
        let fields = request.headerFields
        #expect(values("X-Forwarded-For", in: fields) == ["192.0.2.10"])
        #expect(values("X-Forwarded-Proto", in: fields) == ["http"])
        #expect(values("X-Forwarded-Host", in: fields) == ["app.example:8080"])
        #expect(values("Forwarded", in: fields).isEmpty)
        #expect(values("X-Request-Id", in: fields) == ["rid-up"])
        #expect(values("Expect", in: fields).isEmpty)
        #expect(values("X-User-Id", in: fields) == ["alice"])
        #expect(values("X-User-Email", in: fields) == ["alice@example.com"])
        #expect(values("X-User-Roles", in: fields) == ["reader, writer"])
        #expect(values("X-User-Impersonate", in: fields).isEmpty)
        #expect(!fields.contains { $0.name.canonicalName.contains("_") })
        #expect(values("Accept", in: fields) == ["application/json"])
        // What backends read as the scheme, the prefix, the client or the URL (found by an
        // audit: `X-Forwarded-Ssl: on` made a plain-HTTP client https to a Rack backend).
        for name in Self.otherSpellings.map(\.0) {
            #expect(values(name, in: fields).isEmpty, "\(name)")
        }
        #expect(fields[.cookie] == nil, "the session cookie never reaches the backend")
    }

    @Test func clientIdentityIsStrippedEvenWithoutSession() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/", upstream: "api", auth: .optional)]))
        let (request, exchange) = try await prepared(fixture, headers: Self.spoofed)
        #expect(exchange.session == nil)
        for name in ["X-User-Id", "X_User_Id", "X-User-Email", "X-User-Roles", "X-User-Impersonate"] {
            #expect(values(name, in: request.headerFields).isEmpty, "\(name)")
        }
        #expect(values("X-Forwarded-For", in: request.headerFields) == ["192.0.2.10"])
    }

    @Test func noIdentityOnAPublicRouteEvenWithACookie() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (request, exchange) = try await prepared(fixture, path: "/public/x", headers: [("Cookie", cookie)])
        #expect(!exchange.needsLookup)
        #expect(values("X-User-Id", in: request.headerFields).isEmpty)
        #expect(request.headerFields[.cookie] == nil)
    }

    @Test func forwardedProtoIsHTTPSOnTLS() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (request, _) = try await prepared(fixture, headers: [("Cookie", cookie)], client: tlsClient)
        #expect(values("X-Forwarded-Proto", in: request.headerFields) == ["https"])
    }

    @Test func removesHopByHopFieldsFromTheRequest() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/", upstream: "api", auth: .none)]))
        let (request, _) = try await prepared(
            fixture,
            headers: [
                ("Connection", "keep-alive, X-Hop"), ("Keep-Alive", "timeout=5"), ("X-Hop", "1"),
                ("TE", "trailers"), ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"),
                ("Transfer-Encoding", "chunked"), ("Trailer", "X-Sum"), ("Content-Type", "text/plain"),
                ("HTTP2-Settings", "AAMAAABkAAQAAP__"),
                // Aliases a backend may merge with the dashed names (found by an audit).
                ("Transfer_Encoding", "chunked"), ("Content.Length", "5"), ("Keep_Alive", "timeout=5"),
                ("Proxy_Connection", "close"), ("HTTP2_Settings", "x"),
            ])
        let names = Set(request.headerFields.map(\.name.canonicalName))
        #expect(names == ["content-type", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"])
    }

    @Test func otherCookiesAndEndToEndHeadersPassThrough() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        let (request, _) = try await prepared(
            fixture,
            headers: [
                ("Cookie", "theme=dark; \(cookie); lang=en"), ("Authorization", "Bearer backend-token"),
                ("Content-Length", "12"), ("X-Custom", "v"),
            ])
        #expect(request.headerFields[.cookie] == "theme=dark; lang=en")
        #expect(request.headerFields[.authorization] == "Bearer backend-token")
        #expect(values("X-Custom", in: request.headerFields) == ["v"])
        // The server writes the upstream's framing field itself (issue 18): the client's never passes.
        #expect(request.headerFields[.contentLength] == nil)
    }

    @Test func customIdentityConfiguration() async throws {
        var identity = IdentitySettings()
        identity.headers = [HeaderMapping(header: "Remote-User", attribute: "sub"), HeaderMapping(header: "X-Tenant", attribute: "tenant")]
        identity.strip = ["Remote-*", "*-Secret"]
        let fixture = PolicyFixture(makeConfiguration(identity: identity))
        let (_, cookie) = try await fixture.login(["sub": "alice", "tenant": 7])
        let (request, _) = try await prepared(
            fixture,
            headers: [
                ("Cookie", cookie), ("Remote-User", "mallory"), ("remote_groups", "admins"), ("X-TENANT", "1"),
                ("X-Db-Secret", "s"), ("X-User-Id", "not-configured-here"),
            ])
        let fields = request.headerFields
        #expect(values("Remote-User", in: fields) == ["alice"])
        #expect(values("Remote-Groups", in: fields).isEmpty)
        #expect(values("remote_groups", in: fields).isEmpty)
        #expect(values("X-Tenant", in: fields) == ["7"])
        #expect(values("X-Db-Secret", in: fields).isEmpty)
        // Not an identity header under this configuration: passes through.
        #expect(values("X-User-Id", in: fields) == ["not-configured-here"])
    }

    @Test func keepsTheAuthorityForTheUpstream() async throws {
        let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/", upstream: "api", auth: .none)]))
        let (request, _) = try await prepared(fixture, headers: [])
        #expect(request.authority == "app.example:8080")
        #expect(request.path == "/private")
        #expect(request.method == .get)
    }

    /// The injection memo of a connection reuses the identity fields only for the very same
    /// attributes under the very same policy: another session's attributes, changed attributes
    /// and a reloaded identity mapping each get their own fields.
    @Test func injectionMemoNeverServesStaleIdentity() async throws {
        let first = PolicyFixture()
        var tenant = IdentitySettings()
        tenant.headers = [HeaderMapping(header: "X-User-Id", attribute: "tenant")]
        let reloaded = PolicyFixture(makeConfiguration(identity: tenant))
        let memo = InjectionMemo()
        func injected(_ fixture: PolicyFixture, _ cookie: String) async throws -> [String] {
            var request = makeRequest(.get, "/private", headers: [("Cookie", cookie), ("X-User-Id", "mallory")])
            let exchange = try await fixture.beginAndLookUp(&request)
            fixture.policy.prepareUpstreamRequest(&request, exchange: exchange, injectionMemo: memo)
            return values("X-User-Id", in: request.headerFields)
        }
        let alice = try await first.login(["sub": "alice", "tenant": "t1"]).cookie
        let bob = try await first.login(["sub": "bob", "tenant": "t2"]).cookie
        let alice2 = try await first.login(["sub": "alice2", "tenant": "t1"]).cookie
        let reloadedAlice = try await reloaded.login(["sub": "alice", "tenant": "t1"]).cookie
        #expect(try await injected(first, alice) == ["alice"])
        #expect(try await injected(first, alice) == ["alice"])
        #expect(try await injected(first, bob) == ["bob"])
        #expect(try await injected(first, alice2) == ["alice2"])
        #expect(try await injected(reloaded, reloadedAlice) == ["t1"], "a reloaded mapping is not served from the old policy's memo")
        #expect(try await injected(first, alice) == ["alice"])
    }
}
