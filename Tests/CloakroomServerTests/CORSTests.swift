import CloakroomConfig
import CloakroomServer
import Foundation
import Testing

/// SPEC "CORS" over real sockets with curl (HTTP/1.1 and h2c): the preflight answered by the
/// proxy on a required route without a session, nothing forwarded; a credentialed call from the
/// allowed origin with the backend's own CORS fields replaced; the proxy's 401 readable.
@Suite(.serialized)
struct CORSTests {
    static let app = "http://app.localhost:8000"

    static func start() async throws -> ProxyHarness {
        try await ProxyHarness.start { configuration in
            var api = Route(path: "/api/", upstream: "api", auth: .required)
            api.cors = CORSSettings(
                origins: [app], methods: ["GET", "POST"], headers: ["Content-Type"], allowCredentials: true, maxAge: .seconds(300))
            configuration.routes.insert(api, at: 0)
        }
    }

    @Test(arguments: [false, true])
    func aPreflightIsAnsweredByTheProxyAndNothingIsForwarded(http2: Bool) async throws {
        let harness = try await Self.start()
        defer { Task { await harness.stop() } }
        let version = http2 ? ["--http2-prior-knowledge"] : []
        let preflight = try await Curl.get(
            "\(harness.base)/api/items",
            version + [
                "-X", "OPTIONS", "-H", "Origin: \(Self.app)", "-H", "Access-Control-Request-Method: POST", "-H",
                "Access-Control-Request-Headers: content-type",
            ])
        #expect(preflight.status == 204)
        #expect(preflight.header("access-control-allow-origin") == Self.app)
        #expect(preflight.header("access-control-allow-credentials") == "true")
        #expect(preflight.header("access-control-allow-methods") == "GET, POST")
        #expect(preflight.header("access-control-allow-headers") == "Content-Type")
        #expect(preflight.header("access-control-max-age") == "300")
        let refused = try await Curl.get(
            "\(harness.base)/api/items", version + ["-X", "OPTIONS", "-H", "Origin: http://evil.localhost", "-H", "Access-Control-Request-Method: GET"])
        #expect(refused.status == 403)
        #expect(refused.header("access-control-allow-origin") == nil)
        #expect(harness.backend.requests.isEmpty, "a preflight never reaches the backend")
    }

    @Test func aCredentialedCallGetsTheRoutesFieldsInPlaceOfTheBackends() async throws {
        let harness = try await Self.start()
        defer { Task { await harness.stop() } }
        let unauthenticated = try await Curl.get("\(harness.base)/api/items", ["-H", "Origin: \(Self.app)"])
        #expect(unauthenticated.status == 401)
        #expect(unauthenticated.header("access-control-allow-origin") == Self.app)
        #expect(unauthenticated.header("vary") == "Origin")

        let cookie = try await harness.login()
        // The backend's /cors answer claims CORS for every origin itself.
        let call = try await Curl.get(
            "\(harness.base)/api/cors", [
                "-X", "POST", "-H", "Cookie: \(cookie)", "-H", "Origin: \(Self.app)", "-H", "Sec-Fetch-Site: cross-site", "-H",
                "Content-Type: application/json", "--data", "{}",
            ])
        #expect(call.status == 200, "the route's credentialed origin is trusted for the CSRF rule")
        #expect(call.headers("access-control-allow-origin") == [Self.app])
        #expect(call.header("access-control-allow-credentials") == "true")
        #expect(call.header("access-control-expose-headers") == nil, "the backend's CORS fields are replaced")
        #expect(harness.backend.requests.last?.value("origin") == Self.app)

        let elsewhere = try await Curl.get(
            "\(harness.base)/other", ["-X", "POST", "-H", "Cookie: \(cookie)", "-H", "Origin: \(Self.app)", "-H", "Sec-Fetch-Site: cross-site"])
        #expect(elsewhere.status == 403, "on a route without cors the origin is foreign")
        #expect(elsewhere.body == "{\"error\":\"csrf\"}")
    }
}
