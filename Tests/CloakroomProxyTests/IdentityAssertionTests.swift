import CloakroomConfig
import CloakroomSessions
import Foundation
import HTTPTypes
import Synchronization
import Testing

@testable import CloakroomProxy

/// A signer that makes `payload-in-base64url.<n>` tokens, counting its calls, so the policy's
/// claims and reuse can be read without any cryptography (the real signatures are checked by
/// CloakroomJOSETests and, end to end, by AssertionTests with an independent verifier).
final class CountingSigner: AssertionSigning {
    let calls = Mutex(0)
    let jwks = Array(#"{"keys":[]}"#.utf8)

    func sign(payload: [UInt8]) throws -> String {
        let n = calls.withLock { count in
            count += 1
            return count
        }
        let encoded = Data(payload).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "\(encoded).\(n)"
    }

    func prepare() async throws {}

    /// The claims of a token this signer made.
    static func claims(_ token: String) throws -> [String: Any] {
        var base64 = String(token.split(separator: ".")[0]).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        let data = try #require(Data(base64Encoded: base64))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// A policy with `identity.assertion` over a real memory store on a manual clock.
struct AssertionFixture {
    let policy: ProxyPolicy
    let store: MemorySessionStore
    let clock: ManualWallClock
    let signer = CountingSigner()

    init(ttl: Duration = .seconds(120), adjust: (inout Configuration) -> Void = { _ in }) {
        var configuration = makeConfiguration(routes: [
            Route(path: "/public/", upstream: "api", auth: .none),
            Route(path: "/billing/", upstream: "billing", auth: .required),
            Route(path: "/", upstream: "api", auth: .required),
        ])
        var assertion = AssertionSettings()
        assertion.ttl = ttl
        configuration.identity.assertion = assertion
        var billing = Upstream(kind: .echo)
        billing.audience = "https://billing.example"
        configuration.upstreams["billing"] = billing
        adjust(&configuration)
        clock = ManualWallClock()
        store = MemorySessionStore(
            maxSessions: 100,
            timeouts: SessionTimeouts(idle: .seconds(3600), absolute: .seconds(7200), touchInterval: .seconds(60)), clock: clock)
        policy = ProxyPolicy(
            configuration: configuration, store: store, codec: testCodec, logger: silentLogger,
            assertion: IdentityAssertion(configuration: configuration, signer: signer, clock: clock, logger: silentLogger))
    }

    func login(_ attributes: JSONObject) async throws -> String {
        try await loginWithID(attributes).cookie
    }

    func loginWithID(_ attributes: JSONObject) async throws -> (id: SessionID, cookie: String) {
        let id = SessionID.random()
        _ = try await store.create(key: id.key, attributes: attributes)
        return (id, policy.cookies.cookiePair(for: id))
    }

    /// Phases 1 to 4 of one request; the fields the upstream receives.
    func forward(
        _ path: String, cookie: String?, headers: [(String, String)] = [], memo: InjectionMemo? = nil
    ) async throws -> HTTPFields {
        var request = makeRequest(.get, path, headers: headers + (cookie.map { [("Cookie", $0)] } ?? []))
        guard case .success(var exchange) = policy.begin(&request, client: plainClient, requestID: "rid") else {
            throw TestFailure.beginFailed
        }
        if exchange.needsLookup, let key = exchange.presentedID?.key { exchange.session = try await store.lookup(key: key) }
        policy.prepareUpstreamRequest(&request, exchange: exchange, injectionMemo: memo)
        return request.headerFields
    }

    func token(_ fields: HTTPFields) -> String? { fields[HTTPField.Name("X-Cloakroom-Assertion")!] }

    enum TestFailure: Error { case beginFailed }
}

@Suite struct IdentityAssertionTests {
    let alice: JSONObject = ["sub": "alice", "email": "alice@example.com", "roles": ["reader", "writer"], "team": "blue"]

    @Test func claimsNameTheIssuerAudienceSessionAndIdentityAttributes() async throws {
        let fixture = AssertionFixture()
        let cookie = try await fixture.login(alice)
        let fields = try await fixture.forward("/orders", cookie: cookie)
        let claims = try CountingSigner.claims(try #require(fixture.token(fields)))
        let session = try #require(try await fixture.store.sessions(subject: "alice").first)
        let now = Int(fixture.clock.now().timeIntervalSince1970)
        #expect(claims["iss"] as? String == "cloakroom")
        #expect(claims["aud"] as? String == "api", "an upstream's name is its default audience")
        #expect(claims["sub"] as? String == "alice")
        #expect(claims["sid"] as? String == session.handle)
        #expect(claims["iat"] as? Int == now)
        #expect(claims["exp"] as? Int == now + 120)
        #expect(claims["email"] as? String == "alice@example.com")
        #expect(claims["roles"] as? [String] == ["reader", "writer"], "an array stays an array")
        #expect(claims["team"] == nil, "only attributes named in identity.headers")
        #expect(values("X-User-Roles", in: fields) == ["reader, writer"], "the identity headers are still there")
    }

    @Test func eachUpstreamHasItsAudienceAndItsOwnToken() async throws {
        let fixture = AssertionFixture()
        let cookie = try await fixture.login(alice)
        let memo = InjectionMemo()
        let api = try #require(fixture.token(try await fixture.forward("/orders", cookie: cookie, memo: memo)))
        let billing = try #require(fixture.token(try await fixture.forward("/billing/x", cookie: cookie, memo: memo)))
        #expect(try CountingSigner.claims(billing)["aud"] as? String == "https://billing.example")
        #expect(api != billing)
        #expect(fixture.token(try await fixture.forward("/orders", cookie: cookie, memo: memo)) == api, "each kept for its upstream")
        #expect(fixture.signer.calls.withLock { $0 } == 2)
    }

    @Test func aTokenIsReusedWhileMoreThanHalfItsLifetimeRemains() async throws {
        let fixture = AssertionFixture(ttl: .seconds(120))
        let cookie = try await fixture.login(alice)
        let memo = InjectionMemo()
        let first = fixture.token(try await fixture.forward("/a", cookie: cookie, memo: memo))
        fixture.clock.advance(by: .seconds(59))
        #expect(fixture.token(try await fixture.forward("/b", cookie: cookie, memo: memo)) == first)
        fixture.clock.advance(by: .seconds(1))
        let second = fixture.token(try await fixture.forward("/c", cookie: cookie, memo: memo))
        #expect(second != first, "half the lifetime gone: a new token")
        #expect(try CountingSigner.claims(try #require(second))["iat"] as? Int == Int(fixture.clock.now().timeIntervalSince1970))
        #expect(fixture.signer.calls.withLock { $0 } == 2)
    }

    @Test func aSessionUpdateOrAnotherSessionGetsANewToken() async throws {
        let fixture = AssertionFixture()
        let memo = InjectionMemo()
        let (aliceID, aliceCookie) = try await fixture.loginWithID(alice)
        let first = try #require(fixture.token(try await fixture.forward("/a", cookie: aliceCookie, memo: memo)))

        _ = try await fixture.store.update(key: aliceID.key, patch: ["email": "new@example.com"])
        let updated = try #require(fixture.token(try await fixture.forward("/a", cookie: aliceCookie, memo: memo)))
        #expect(updated != first)
        #expect(try CountingSigner.claims(updated)["email"] as? String == "new@example.com")

        // Same attributes, another session: another sid, another token.
        let twinCookie = try await fixture.login(["sub": "alice", "email": "new@example.com", "roles": ["reader", "writer"], "team": "blue"])
        let twin = try #require(fixture.token(try await fixture.forward("/a", cookie: twinCookie, memo: memo)))
        #expect(twin != updated)
        #expect(try CountingSigner.claims(twin)["sid"] as? String != CountingSigner.claims(updated)["sid"] as? String)
    }

    @Test func anEndedSessionGetsNoToken() async throws {
        let fixture = AssertionFixture()
        let memo = InjectionMemo()
        let cookie = try await fixture.login(alice)
        #expect(fixture.token(try await fixture.forward("/a", cookie: cookie, memo: memo)) != nil)
        _ = try await fixture.store.revokeAll(subject: "alice")
        var request = makeRequest(.get, "/a", headers: [("Cookie", cookie)])
        guard case .success(var exchange) = fixture.policy.begin(&request, client: plainClient, requestID: "r") else {
            Issue.record("begin failed")
            return
        }
        exchange.session = try await fixture.store.lookup(key: try #require(exchange.presentedID).key)
        #expect(exchange.session == nil)
        guard case .respond(let answer) = fixture.policy.authorize(exchange) else {
            Issue.record("a required route without a session is answered locally")
            return
        }
        #expect(answer.head.status == .unauthorized)
    }

    @Test func noTokenWithoutASessionAndTheClientsCopyIsAlwaysStripped() async throws {
        let fixture = AssertionFixture()
        let forged = [
            ("X-Cloakroom-Assertion", "forged"), ("x-cloakroom-assertion", "forged"), ("X_Cloakroom_Assertion", "forged"),
            ("X-CLOAKROOM-ASSERTION", "forged"),
        ]
        let anonymous = try await fixture.forward("/public/x", cookie: nil, headers: forged)
        #expect(!anonymous.contains { $0.name.canonicalName.replacingOccurrences(of: "_", with: "-") == "x-cloakroom-assertion" })

        let cookie = try await fixture.login(alice)
        let signedIn = try await fixture.forward("/orders", cookie: cookie, headers: forged)
        let copies = signedIn.filter { $0.name.canonicalName.replacingOccurrences(of: "_", with: "-") == "x-cloakroom-assertion" }
        #expect(copies.count == 1)
        #expect(copies.first?.value != "forged")
        // The server's HTTP/1.1 path filters raw lines by the same rule.
        var raw = makeRequest(.get, "/orders")
        let filter = fixture.policy.stripUpstreamRequest(&raw)
        for (name, _) in forged {
            #expect(Array(name.utf8).withUnsafeBytes { filter.drops(name: $0) }, "\(name)")
        }
    }

    @Test func registeredClaimsCannotBeTakenByAttributes() async throws {
        let fixture = AssertionFixture { configuration in
            configuration.identity.headers += [
                HeaderMapping(header: "X-User-Aud", attribute: "aud"), HeaderMapping(header: "X-User-Exp", attribute: "exp"),
            ]
        }
        let cookie = try await fixture.login(["sub": "alice", "aud": "billing", "exp": 99_999_999_999])
        let claims = try CountingSigner.claims(try #require(fixture.token(try await fixture.forward("/orders", cookie: cookie))))
        #expect(claims["aud"] as? String == "api")
        #expect(claims["exp"] as? Int == Int(fixture.clock.now().timeIntervalSince1970) + 120)
    }

    @Test func theKeysArePublishedOnTheWellKnownPath() async throws {
        let fixture = AssertionFixture()
        var request = makeRequest(.get, "/.well-known/cloakroom/jwks.json")
        guard case .success(let exchange) = fixture.policy.begin(&request, client: plainClient, requestID: "rid-jwks") else {
            Issue.record("begin failed")
            return
        }
        #expect(exchange.endpoint == .jwks)
        #expect(exchange.route == nil, "answered by the proxy: recorded without an upstream")
        #expect(!exchange.needsLookup)
        guard case .respond(let answer) = fixture.policy.authorize(exchange) else {
            Issue.record("the JWKS is answered by the proxy")
            return
        }
        #expect(answer.head.status == .ok)
        #expect(answer.head.headerFields[.contentType] == "application/json")
        #expect(answer.head.headerFields[.cacheControl] == "public, max-age=300")
        #expect(answer.body == fixture.signer.jwks)

        var post = makeRequest(.post, "/.well-known/cloakroom/jwks.json")
        guard case .success(let postExchange) = fixture.policy.begin(&post, client: plainClient, requestID: "r"),
            case .respond(let refused) = fixture.policy.authorize(postExchange)
        else {
            Issue.record("a POST is answered by the proxy")
            return
        }
        #expect(refused.head.status == .methodNotAllowed)
        #expect(refused.head.headerFields[.allow] == "GET, HEAD")
    }

    @Test func theAdminAPIPublishesTheKeysWithoutAToken() async throws {
        let fixture = AssertionFixture()
        let token = String(repeating: "t", count: 32)
        let api = AdminAPI(
            store: fixture.store, token: token, cookies: fixture.policy.cookies, logger: silentLogger, metrics: { "" },
            jwks: fixture.signer.jwks)
        let keys = await api.handle(.init(method: .get, target: "/.well-known/cloakroom/jwks.json", authorization: nil))
        #expect(keys.status == .ok)
        #expect(keys.contentType == "application/json")
        #expect(keys.cacheControl == "public, max-age=300")
        #expect(Array(keys.body.utf8) == fixture.signer.jwks)
        #expect(await api.handle(.init(method: .post, target: "/.well-known/cloakroom/jwks.json", authorization: nil)).status == .methodNotAllowed)
        let sessions = await api.handle(.init(method: .get, target: "/sessions", authorization: "Bearer \(token)"))
        #expect(sessions.cacheControl == "no-store", "everything else stays uncacheable")

        let without = AdminAPI(store: fixture.store, token: token, cookies: fixture.policy.cookies, logger: silentLogger, metrics: { "" })
        // Without an assertion there are no keys: not found, and still no token asked for.
        for authorization in [nil, "Bearer \(token)"] {
            let missing = await without.handle(.init(method: .get, target: "/.well-known/cloakroom/jwks.json", authorization: authorization))
            #expect(missing.status == .notFound && missing.body == #"{"error":"not_found"}"#, "\(missing.body)")
        }
    }

    @Test func withoutAnAssertionTheWellKnownPathIsAnOrdinaryPath() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/.well-known/cloakroom/jwks.json")
        let exchange = try fixture.begin(&request)
        #expect(exchange.endpoint == .proxied)
    }

    /// A token captured while the assertion was on is never replayed through the proxy.
    @Test func withoutAnAssertionTheDefaultHeaderIsStillStripped() throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.get, "/public/x", headers: [("X-Cloakroom-Assertion", "captured"), ("x_cloakroom_assertion", "x")])
        let exchange = try fixture.begin(&request)
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        #expect(!request.headerFields.contains { $0.name.canonicalName.replacingOccurrences(of: "_", with: "-") == "x-cloakroom-assertion" })
    }

    @Test func aCustomHeaderIsStrippedAndCarriesTheToken() async throws {
        let fixture = AssertionFixture { $0.identity.assertion?.header = "X-Identity-Token" }
        let cookie = try await fixture.login(alice)
        let fields = try await fixture.forward(
            "/orders", cookie: cookie,
            headers: [("x_identity_token", "forged"), ("X-IDENTITY-TOKEN", "forged"), ("X-Cloakroom-Assertion", "captured")])
        #expect(!fields.contains { $0.name.canonicalName == "x-cloakroom-assertion" }, "the default name is stripped after a rename too")
        let tokens = fields.filter { $0.name.canonicalName.replacingOccurrences(of: "_", with: "-") == "x-identity-token" }
        #expect(tokens.count == 1)
        #expect(tokens.first?.name.rawName == "X-Identity-Token")
        #expect(try CountingSigner.claims(try #require(tokens.first?.value))["sub"] as? String == "alice")
    }
}
