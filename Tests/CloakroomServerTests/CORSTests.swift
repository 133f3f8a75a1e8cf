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

    /// The built-in echo's answers on a `cors` route carry the route's CORS fields, as an
    /// upstream's do (found by an audit: they had none, and CORS looked broken in the demo).
    @Test func theEchoUpstreamsAnswersCarryTheRoutesCORSFields() async throws {
        let harness = try await ProxyHarness.start { configuration in
            var echo = Route(path: "/echo/", upstream: "echo", auth: .none)
            echo.cors = CORSSettings(origins: [Self.app], methods: ["GET"], headers: [], allowCredentials: true, maxAge: .seconds(60))
            configuration.routes.insert(echo, at: 0)
        }
        defer { Task { await harness.stop() } }
        let allowed = try await Curl.get("\(harness.base)/echo/x", ["-H", "Origin: \(Self.app)"])
        #expect(allowed.status == 200)
        #expect(allowed.header("access-control-allow-origin") == Self.app)
        #expect(allowed.header("access-control-allow-credentials") == "true")
        #expect(allowed.header("vary")?.contains("Origin") == true)
        let other = try await Curl.get("\(harness.base)/echo/x", ["-H", "Origin: http://evil.localhost"])
        #expect(other.header("access-control-allow-origin") == nil && other.header("vary")?.contains("Origin") == true)
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
        #expect(preflight.header("content-length") == nil, "RFC 9110 §8.6: none in a 204")
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

extension CORSTests {
    /// SPEC: every response to an allowed origin carries the fields — a `networks` refusal and
    /// an upstream that cannot be reached (502) included, so the page can read why.
    @Test(arguments: [false, true])
    func refusalsAndUpstreamFailuresAreReadableByTheAllowedOrigin(http2: Bool) async throws {
        let dead = try freePort()
        let harness = try await ProxyHarness.start { configuration in
            let cors = CORSSettings(origins: [Self.app], methods: ["GET"], headers: [], allowCredentials: false, maxAge: .seconds(60))
            var inside = Route(path: "/internal/", upstream: "api", auth: .none, networks: [CIDRBlock("10.0.0.0/8")!])
            inside.cors = cors
            var gone = Route(path: "/gone/", upstream: "gone", auth: .none)
            gone.cors = cors
            configuration.routes.insert(contentsOf: [inside, gone], at: 0)
            configuration.upstreams["gone"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: dead)]))
        }
        defer { Task { await harness.stop() } }
        let version = http2 ? ["--http2-prior-knowledge"] : []
        let refused = try await Curl.get("\(harness.base)/internal/x", version + ["-H", "Origin: \(Self.app)"])
        #expect(refused.status == 403)
        #expect(refused.header("access-control-allow-origin") == Self.app)
        #expect(refused.header("vary") == "Origin")
        let failed = try await Curl.get("\(harness.base)/gone/x", version + ["-H", "Origin: \(Self.app)"])
        #expect(failed.status == 502)
        #expect(failed.header("access-control-allow-origin") == Self.app)
        #expect(failed.header("vary") == "Origin")
        let foreign = try await Curl.get("\(harness.base)/gone/x", version + ["-H", "Origin: http://evil.localhost"])
        #expect(foreign.status == 502)
        #expect(foreign.header("access-control-allow-origin") == nil)
    }

    /// A declared body over `max_body_bytes` is refused before anything is looked up, but after
    /// the route is known: its 413 is readable by the allowed origin too (found by a black-box
    /// audit: it carried no CORS field).
    @Test(arguments: [false, true])
    func a413IsReadableByTheAllowedOrigin(http2: Bool) async throws {
        let harness = try await ProxyHarness.start { configuration in
            configuration.client.maxBodyBytes = 100
            var api = Route(path: "/api/", upstream: "api", auth: .required)
            api.cors = CORSSettings(origins: [Self.app], methods: ["POST"], headers: [], allowCredentials: true, maxAge: .seconds(60))
            configuration.routes.insert(api, at: 0)
        }
        defer { Task { await harness.stop() } }
        let version = http2 ? ["--http2-prior-knowledge"] : []
        let body = String(repeating: "a", count: 500)
        let refused = try await Curl.get("\(harness.base)/api/upload", version + ["-H", "Origin: \(Self.app)", "--data", body])
        #expect(refused.status == 413)
        #expect(refused.header("access-control-allow-origin") == Self.app)
        #expect(refused.header("access-control-allow-credentials") == "true")
        #expect(refused.header("vary") == "Origin")
        #expect(harness.backend.requests.isEmpty)
    }
}

/// A page in headless Chromium on a second origin (another listener of the same proxy) calls
/// the API with `fetch`: the preflight, then the credentialed call with the session cookie.
@Suite(.serialized)
struct CORSBrowserTests {
    @Test func aPageOnAnotherOriginCallsTheAPIWithItsCookie() async throws {
        let pagePort = try freePort()
        let page = "http://localhost:\(pagePort)"
        let harness = try await ProxyHarness.start { configuration in
            configuration.listeners.append(Listener(address: SocketAddressSpec(host: "127.0.0.1", port: pagePort)))
            var api = Route(path: "/api/", upstream: "api", auth: .required)
            api.cors = CORSSettings(origins: [page], methods: ["GET", "POST"], headers: ["Content-Type"], allowCredentials: true)
            configuration.routes.insert(api, at: 0)
        }
        defer { Task { await harness.stop() } }
        let api = "http://localhost:\(harness.port)/api/cors"
        let call = """
            const done = arguments[arguments.length - 1];
            fetch('\(api)', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{}' })
              .then(r => r.text().then(t => done(JSON.stringify({ status: r.status, body: t }))))
              .catch(e => done(JSON.stringify({ blocked: String(e) })));
            """
        try await WebDriver.with { browser in
            // Signed in on the API's origin: the cookie is for localhost, sent same-site.
            try await browser.open("http://localhost:\(harness.port)/login?sub=alice")
            try await browser.open("\(page)/public/app")
            let allowed = try await browser.executeAsync(call)
            #expect(allowed.contains("\"status\":200"), "\(allowed)")
            // From an origin the route does not list, the browser refuses the preflight.
            try await browser.open("http://127.0.0.1:\(pagePort)/public/app")
            let refused = try await browser.executeAsync(call)
            #expect(refused.contains("blocked"), "\(refused)")
        }
        let preflights = harness.backend.requests.filter { $0.method == "OPTIONS" }
        #expect(preflights.isEmpty, "preflights are the proxy's to answer")
        let calls = harness.backend.requests.filter { $0.uri == "/api/cors" }
        #expect(calls.count == 1)
        #expect(calls.first?.value("x-user-id") == "alice", "the call carried the session cookie")
        #expect(calls.first?.value("origin") == page)
    }
}

extension CORSTests {
    /// An origin written with its scheme's default port matches what browsers send, which
    /// leaves that port out (found by a black-box audit: such an entry passed `check` and never
    /// matched). The entries go through the config decoder, as `serve` reads them.
    @Test func anOriginWrittenWithItsDefaultPortMatchesTheBrowsersOrigin() async throws {
        let parsed = try ConfigurationLoader.parse(
            """
            listen: [{ address: "127.0.0.1:8080" }]
            session:
              trusted_origins: ["https://portal.test:443"]
            routes:
              - path: /api/
                upstream: api
                cors: { origins: ["http://app.localhost:80"], methods: [GET, POST], allow_credentials: true }
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            """, environment: [:])
        let harness = try await ProxyHarness.start { configuration in
            configuration.session.trustedOrigins = parsed.session.trustedOrigins
            var api = Route(path: "/api/", upstream: "api", auth: .required)
            api.cors = parsed.routes[0].cors
            configuration.routes.insert(api, at: 0)
        }
        defer { Task { await harness.stop() } }

        let preflight = try await Curl.get(
            "\(harness.base)/api/items", ["-X", "OPTIONS", "-H", "Origin: http://app.localhost", "-H", "Access-Control-Request-Method: POST"])
        #expect(preflight.status == 204)
        #expect(preflight.header("access-control-allow-origin") == "http://app.localhost")

        let cookie = try await harness.login()
        let unsafe = ["-X", "POST", "-H", "Cookie: \(cookie)", "-H", "Sec-Fetch-Site: cross-site", "--data", "{}"]
        let trusted = try await Curl.get("\(harness.base)/other", unsafe + ["-H", "Origin: https://portal.test"])
        #expect(trusted.status == 200, "a trusted origin passes the CSRF rule: \(trusted.body)")
        let credentialed = try await Curl.get("\(harness.base)/api/cors", unsafe + ["-H", "Origin: http://app.localhost"])
        #expect(credentialed.status == 200, "the route's credentialed origin is trusted too: \(credentialed.body)")
        let foreign = try await Curl.get("\(harness.base)/other", unsafe + ["-H", "Origin: https://elsewhere.test"])
        #expect(foreign.status == 403, "the rule is in force")
    }
}
