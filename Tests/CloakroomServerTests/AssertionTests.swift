import CloakroomConfig
import CloakroomServer
import CloakroomSessions
import Foundation
import Testing

/// The signed identity assertion end to end: the real proxy in front of a real backend, tokens
/// taken from what the backend received and verified by joserfc (``AssertionVerifier``), never
/// by the code that signed them.
@Suite(.serialized)
struct AssertionTests {
    static let header = "x-cloakroom-assertion"
    static let adminToken = "assertion-tests-admin-token-0123456789"

    /// The harness's configuration with the assertion on, a `billing` upstream (the same
    /// backend) with an audience of its own under `/billing/`, and an admin listener.
    static func configure(_ configuration: inout Configuration, keys: [String]) {
        var assertion = AssertionSettings()
        assertion.signingKeys = keys
        configuration.identity.assertion = assertion
        var billing = configuration.upstreams["api"]!
        billing.audience = "https://billing.example"
        configuration.upstreams["billing"] = billing
        configuration.routes.insert(Route(path: "/billing/", upstream: "billing", auth: .required), at: 0)
        configuration.admin = AdminSettings(listen: SocketAddressSpec(host: "127.0.0.1", port: 0), token: adminToken)
    }

    static func start(
        keys: [String], clock: any WallClock = SystemWallClock(), source: ReloadTests.Source? = nil
    ) async throws -> ProxyHarness {
        try await ProxyHarness.start(
            clock: clock, adjust: { configure(&$0, keys: keys) },
            configurationSource: source.map { source in { initial in { try source.read(initial: initial) } } })
    }

    static func jwks(_ harness: ProxyHarness) async throws -> (body: String, cacheControl: String?) {
        let response = try await Curl.get("\(harness.base)/.well-known/cloakroom/jwks.json")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        return (response.body, response.header("cache-control"))
    }

    static func kids(_ jwks: String) throws -> [String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(jwks.utf8)) as? [String: Any])
        return try #require(object["keys"] as? [[String: Any]]).compactMap { $0["kid"] as? String }
    }

    /// The assertions the backend received on its last request (every spelling of the name).
    static func received(_ harness: ProxyHarness) -> [String] {
        guard let last = harness.backend.requests.last else { return [] }
        return last.headers.filter { $0.0.lowercased().replacingOccurrences(of: "_", with: "-") == header }.map(\.1)
    }

    @Test func theFirstKeySignsBothArePublishedAndTheClaimsNameTheSession() async throws {
        let keys = try await AssertionVerifier.keys(["first", "second"])
        let paths = ["first", "second"].map { keys.appendingPathComponent("\($0).pem").path }
        let harness = try await Self.start(keys: paths)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")

        let before = Int(Date().timeIntervalSince1970)
        #expect(try await Curl.get("\(harness.base)/api/orders", ["-H", "Cookie: \(cookie)"]).status == 200)
        let after = Int(Date().timeIntervalSince1970)
        let tokens = Self.received(harness)
        #expect(tokens.count == 1)

        let (jwks, cacheControl) = try await Self.jwks(harness)
        #expect(cacheControl == "public, max-age=300", "backends may cache the keys for a short while")
        let outcome = try await AssertionVerifier.verify(jwks: jwks, tokens: tokens)
        #expect(try Self.kids(jwks) == outcome.thumbprints, "each kid is its key's RFC 7638 thumbprint")
        #expect(outcome.thumbprints.count == 2, "every key of signing_keys is published")
        let token = try outcome.results[0].get()
        #expect(token.header["alg"] as? String == "ES256")
        #expect(token.header["kid"] as? String == outcome.thumbprints[0], "the first key signs")

        let session = try #require(try await harness.server.store.sessions(subject: "alice").first)
        let claims = token.claims
        #expect(claims["iss"] as? String == "cloakroom")
        #expect(claims["aud"] as? String == "api")
        #expect(claims["sub"] as? String == "alice")
        #expect(claims["sid"] as? String == session.handle, "sid is the session's handle")
        let iat = try #require(claims["iat"] as? Int)
        #expect((before...after).contains(iat))
        #expect(claims["exp"] as? Int == iat + 120, "exp is iat + ttl (2m by default)")
        #expect(claims["email"] as? String == "alice@example.com")
        #expect(claims["roles"] as? [String] == ["reader", "writer"], "arrays stay arrays")

        // The same document on the admin listener, without a token.
        let adminPort = try #require(harness.server.adminAddress?.port)
        let admin = try await Curl.get("http://127.0.0.1:\(adminPort)/.well-known/cloakroom/jwks.json")
        #expect(admin.status == 200)
        #expect(admin.body == jwks)
        #expect(admin.header("cache-control") == "public, max-age=300")
        #expect(try await Curl.get("http://127.0.0.1:\(adminPort)/sessions").status == 401, "other admin routes still need it")
    }

    @Test func eachUpstreamGetsItsAudienceAndATokenForOneIsNotTheOthers() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try KeepAliveClient(port: harness.port)
        _ = try await offPool { try client.send("GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }
        let api = Self.received(harness)
        _ = try await offPool { try client.send("GET /billing/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }
        let billing = Self.received(harness)
        let jwks = try await Self.jwks(harness).body
        #expect(try await AssertionVerifier.verified(api.first, jwks: jwks).claims["aud"] as? String == "api")
        #expect(try await AssertionVerifier.verified(billing.first, jwks: jwks).claims["aud"] as? String == "https://billing.example")
        #expect(api != billing)
    }

    @Test func theClientsCopyIsStrippedInEverySpellingWithOrWithoutASession() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        let forged = ["X-Cloakroom-Assertion: forged", "x_cloakroom_assertion: forged", "X-CLOAKROOM-ASSERTION: forged"]
        let anonymous = "GET /public/x HTTP/1.1\r\nHost: localhost\r\n" + forged.map { $0 + "\r\n" }.joined() + "Connection: close\r\n\r\n"
        #expect(try await RawSocket.send(port: harness.port, anonymous).hasPrefix("HTTP/1.1 200"))
        #expect(Self.received(harness).isEmpty, "no session: no assertion, and none of the client's")

        let cookie = try await harness.login("alice")
        let signedIn = "GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n" + forged.map { $0 + "\r\n" }.joined()
            + "Connection: close\r\n\r\n"
        #expect(try await RawSocket.send(port: harness.port, signedIn).hasPrefix("HTTP/1.1 200"))
        let tokens = Self.received(harness)
        #expect(tokens.count == 1)
        #expect(tokens.first != "forged")
        _ = try await AssertionVerifier.verified(tokens.first, jwks: try await Self.jwks(harness).body)
    }

    @Test func noTokenWithoutASessionOnOptionalAndPublicRoutes() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        for path in ["/public/x", "/optional/x"] {
            #expect(try await Curl.get("\(harness.base)\(path)").status == 200)
            #expect(Self.received(harness).isEmpty, "\(path)")
        }
        let cookie = try await harness.login("alice")
        #expect(try await Curl.get("\(harness.base)/public/x", ["-H", "Cookie: \(cookie)"]).status == 200)
        #expect(Self.received(harness).isEmpty, "auth: none never looks at the session")
        #expect(try await Curl.get("\(harness.base)/optional/x", ["-H", "Cookie: \(cookie)"]).status == 200)
        #expect(Self.received(harness).count == 1, "auth: optional with a session")
    }

    @Test func reusedOnAConnectionUntilHalfItsLifetimeOrASessionUpdate() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let clock = ManualWallClock(Date())
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path], clock: clock)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try KeepAliveClient(port: harness.port)
        func next(_ path: String = "/api/x") async throws -> String? {
            let response = try await offPool { try client.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }
            #expect(response.status == 200)
            return Self.received(harness).first
        }
        let first = try await next()
        #expect(try await next() == first, "reused on the connection")
        clock.advance(by: .seconds(59))
        #expect(try await next() == first, "more than half of the 2m left")
        clock.advance(by: .seconds(2))
        let second = try await next()
        #expect(second != first, "half gone: signed again")

        let updating = try await next("/api/update")
        #expect(updating == second, "the request whose response updates the session went with the old attributes")
        let third = try await next()
        #expect(third != second, "never reused after Session-Update")
        let claims = try await AssertionVerifier.verified(third, jwks: try await Self.jwks(harness).body).claims
        #expect(claims["email"] as? String == "new@example.com")
        #expect(claims["roles"] == nil, "the update removed the roles")
    }

    @Test func aLogoutEndsTheTokensAndANewLoginGetsANewSid() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        let jwks = try await Self.jwks(harness).body
        let cookie = try await harness.login("alice")
        let client = try KeepAliveClient(port: harness.port)
        _ = try await offPool { try client.send("GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }
        let before = try await AssertionVerifier.verified(Self.received(harness).first, jwks: jwks)
        let logout = try await offPool { try client.send("POST /logout HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\nContent-Length: 0\r\n\r\n") }
        #expect(logout.status == 204)
        let count = harness.backend.requests.count
        #expect(try await offPool { try client.send("GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }.status == 401)
        #expect(harness.backend.requests.count == count, "nothing forwarded, no token")

        let again = try await harness.login("alice")
        _ = try await offPool { try client.send("GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(again)\r\n\r\n") }
        let after = try await AssertionVerifier.verified(Self.received(harness).first, jwks: jwks)
        #expect(after.claims["sid"] as? String != before.claims["sid"] as? String)
    }

    @Test func http2StreamsCarryTheAssertion() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let response = try await Curl.get(
            "\(harness.base)/billing/x", ["--http2-prior-knowledge", "-H", "Cookie: \(cookie)", "-H", "X-Cloakroom-Assertion: forged"])
        #expect(response.status == 200)
        #expect(response.version == "2")
        let tokens = Self.received(harness)
        #expect(tokens.count == 1)
        let verified = try await AssertionVerifier.verified(tokens.first, jwks: try await Self.jwks(harness).body)
        #expect(verified.claims["aud"] as? String == "https://billing.example")
        #expect(verified.claims["sub"] as? String == "alice")
    }

    @Test func aWebSocketUpgradeCarriesTheAssertion() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await Self.start(keys: [keys.appendingPathComponent("only.pem").path])
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try await WebSocketTests.connect(harness, cookie: cookie, extra: ["X_Cloakroom_Assertion: forged"])
        #expect(client.status == 101)
        let upgrade = try #require(harness.backend.requests.last)
        #expect(upgrade.uri == "/ws")
        let tokens = Self.received(harness)
        #expect(tokens.count == 1)
        let verified = try await AssertionVerifier.verified(tokens.first, jwks: try await Self.jwks(harness).body)
        #expect(verified.claims["sub"] as? String == "alice")
        try await offPool { try client.sendText("hi") }
        #expect(try await offPool { try client.readFrame() }?.text == "echo:hi")
    }

    /// Rotation as the README tells it: publish the new key second, then make it first. Each
    /// reload takes effect for the next token, on a connection that is already open.
    @Test func aReloadThatChangesTheKeysSignsWithTheNewFirstKeyAtOnce() async throws {
        let keys = try await AssertionVerifier.keys(["old", "new"])
        let old = keys.appendingPathComponent("old.pem").path, new = keys.appendingPathComponent("new.pem").path
        let source = ReloadTests.Source()
        let harness = try await Self.start(keys: [old], source: source)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try KeepAliveClient(port: harness.port)
        func token() async throws -> String? {
            _ = try await offPool { try client.send("GET /api/x HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n") }
            return Self.received(harness).first
        }
        let initialJWKS = try await Self.jwks(harness).body
        let oldKid = try #require(try Self.kids(initialJWKS).first)
        let signedByOld = try #require(try await token())
        #expect(try await AssertionVerifier.verified(signedByOld, jwks: initialJWKS).header["kid"] as? String == oldKid)

        // 1. Publish the new key second: the old one still signs.
        var published = harness.server.configuration
        published.identity.assertion?.signingKeys = [old, new]
        source.set(published)
        #expect(await harness.server.reload() == .reloaded)
        let both = try await Self.jwks(harness).body
        #expect(try Self.kids(both).count == 2)
        #expect(try Self.kids(both).first == oldKid)
        let newKid = try Self.kids(both)[1]
        #expect(try await AssertionVerifier.verified(try await token(), jwks: both).header["kid"] as? String == oldKid)

        // 2. Make it first: it signs the very next token; the old one is still published.
        var rotated = published
        rotated.identity.assertion?.signingKeys = [new, old]
        source.set(rotated)
        #expect(await harness.server.reload() == .reloaded)
        let swapped = try await Self.jwks(harness).body
        #expect(try Self.kids(swapped) == [newKid, oldKid])
        #expect(try await AssertionVerifier.verified(try await token(), jwks: swapped).header["kid"] as? String == newKid)
        #expect(try await AssertionVerifier.verified(signedByOld, jwks: swapped).header["kid"] as? String == oldKid)

        // 3. Drop the old key: what it signed no longer verifies against the published set.
        var dropped = rotated
        dropped.identity.assertion?.signingKeys = [new]
        source.set(dropped)
        #expect(await harness.server.reload() == .reloaded)
        let newOnly = try await Self.jwks(harness).body
        #expect(try Self.kids(newOnly) == [newKid])
        let outcome = try await AssertionVerifier.verify(jwks: newOnly, tokens: [signedByOld])
        #expect(throws: AssertionVerifier.VerificationFailure.self) { try outcome.results[0].get() }
    }

    /// The same path with a new key in it: a reload reads the file again.
    @Test func aReloadRereadsTheKeyFiles() async throws {
        let keys = try await AssertionVerifier.keys(["current", "replacement"])
        let current = keys.appendingPathComponent("current.pem").path
        let source = ReloadTests.Source()
        let harness = try await Self.start(keys: [current], source: source)
        defer { Task { await harness.stop() } }
        let before = try Self.kids(try await Self.jwks(harness).body)
        try FileManager.default.removeItem(atPath: current)
        try FileManager.default.copyItem(atPath: keys.appendingPathComponent("replacement.pem").path, toPath: current)
        source.set(harness.server.configuration)
        #expect(await harness.server.reload() == .reloaded)
        let after = try Self.kids(try await Self.jwks(harness).body)
        #expect(after.count == 1)
        #expect(after != before)
        let cookie = try await harness.login("alice")
        #expect(try await Curl.get("\(harness.base)/api/x", ["-H", "Cookie: \(cookie)"]).status == 200)
        let verified = try await AssertionVerifier.verified(Self.received(harness).first, jwks: try await Self.jwks(harness).body)
        #expect(verified.header["kid"] as? String == after[0])
    }

    @Test func aReloadWithABrokenKeyIsRefusedAndTheOldKeysKeepSigning() async throws {
        let keys = try await AssertionVerifier.keys(["good"])
        let good = keys.appendingPathComponent("good.pem").path
        let broken = keys.appendingPathComponent("broken.pem").path
        try "not a key".write(toFile: broken, atomically: true, encoding: .utf8)
        let source = ReloadTests.Source()
        let harness = try await Self.start(keys: [good], source: source)
        defer { Task { await harness.stop() } }
        var changed = harness.server.configuration
        changed.identity.assertion?.signingKeys = [broken, good]
        source.set(changed)
        guard case .refused(let problems) = await harness.server.reload() else {
            Issue.record("a broken key must refuse the reload")
            return
        }
        #expect(problems.joined().contains("identity.assertion.signing_keys[0]"), "\(problems)")
        #expect(try Self.kids(try await Self.jwks(harness).body).count == 1)
    }

    @Test func withoutSigningKeysTheMemoryStoreMakesAKeyThatSurvivesReloads() async throws {
        let source = ReloadTests.Source()
        let harness = try await Self.start(keys: [], source: source)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        #expect(try await Curl.get("\(harness.base)/api/x", ["-H", "Cookie: \(cookie)"]).status == 200)
        let jwks = try await Self.jwks(harness).body
        let kids = try Self.kids(jwks)
        #expect(kids.count == 1)
        let verified = try await AssertionVerifier.verified(Self.received(harness).first, jwks: jwks)
        #expect(verified.header["kid"] as? String == kids[0])

        var changed = harness.server.configuration
        changed.identity.assertion?.ttl = .seconds(60)
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)
        #expect(try Self.kids(try await Self.jwks(harness).body) == kids, "the key made at start is kept")
    }
}
