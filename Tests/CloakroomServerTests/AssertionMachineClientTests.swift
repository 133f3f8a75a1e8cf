import CloakroomConfig
import Foundation
import Testing

/// The signed assertion for a request an API key signed in (SPEC "Machine clients": the
/// assertion works as for a session, its `sid` the key's handle).
@Suite(.serialized)
struct AssertionMachineClientTests {
    @Test func aKeysRequestCarriesAnAssertionNamingTheKey() async throws {
        let keys = try await AssertionVerifier.keys(["only"])
        let harness = try await ProxyHarness.start(adjust: { configuration in
            AssertionTests.configure(&configuration, keys: [keys.appendingPathComponent("only.pem").path])
            let last = configuration.routes.count - 1
            configuration.routes[last].credentials = RouteCredentials([.cookie, .apiKey])
        })
        defer { Task { await harness.stop() } }
        let adminPort = try #require(harness.server.adminAddress?.port)
        let created = try await Curl.get(
            "http://127.0.0.1:\(adminPort)/api-keys",
            ["-H", "Authorization: Bearer \(AssertionTests.adminToken)", "--data", #"{"attributes":{"sub":"ci-bot","roles":["deploy"]}}"#])
        #expect(created.status == 201, "\(created.body)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])
        let handle = try #require(object["handle"] as? String), key = try #require(object["key"] as? String)

        let called = try await Curl.get(
            "\(harness.base)/api/orders", ["-H", "Authorization: Bearer \(key)", "-H", "X-Cloakroom-Assertion: forged"])
        #expect(called.status == 200)
        let tokens = AssertionTests.received(harness)
        #expect(tokens.count == 1, "the client's copy stripped, the proxy's added")
        let token = try await AssertionVerifier.verified(tokens.first, jwks: try await AssertionTests.jwks(harness).body)
        #expect(token.claims["sub"] as? String == "ci-bot")
        #expect(token.claims["sid"] as? String == handle, "sid is the key's handle")
        #expect(token.claims["roles"] as? [String] == ["deploy"])
        #expect(token.claims["aud"] as? String == "api")
    }
}
