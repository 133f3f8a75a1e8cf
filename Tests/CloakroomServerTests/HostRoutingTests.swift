import CloakroomConfig
import CloakroomServer
import Foundation
import Testing

/// Routes by host over HTTP/1.1, HTTP/2 (h2c and TLS) and WebSocket upgrades; `allow` with
/// roles a backend's `Session-Update` removes; `rewrite_prefix`, `host_header`, and pools that
/// belong to one upstream.
@Suite(.serialized)
struct HostRoutingTests {
    /// `orders.example.test` → the harness's backend (`api`); `*.billing.example.test` → a
    /// second backend (`billing`); `/public/` on any host; nothing else.
    static func start(tls certificates: TestCertificates? = nil) async throws -> (ProxyHarness, TestBackend) {
        let billing = try await TestBackend.start()
        let harness = try await ProxyHarness.start { configuration in
            configuration.routes = [
                Route(path: "/", upstream: "api", auth: .optional, host: .exact("orders.example.test")),
                Route(path: "/", upstream: "billing", auth: .optional, host: .wildcard(suffix: "billing.example.test")),
                Route(path: "/public/", upstream: "api", auth: .none),
            ]
            var upstream = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: billing.port)]))
            upstream.connectTimeout = .seconds(1)
            configuration.upstreams["billing"] = upstream
            if let certificates {
                configuration.listeners.append(
                    Listener(
                        address: SocketAddressSpec(host: "127.0.0.1", port: 0),
                        tls: TLSSettings(certificatePath: certificates.certificate, privateKeyPath: certificates.privateKey)))
            }
        }
        return (harness, billing)
    }

    @Test func http11ChoosesTheRouteByHostWithoutPortOrCase() async throws {
        let (harness, billing) = try await Self.start()
        defer { Task { await harness.stop(); await billing.stop() } }

        #expect(try await Curl.get("\(harness.base)/a", ["-H", "Host: Orders.Example.TEST:8080"]).status == 200)
        #expect(harness.backend.requests.last?.uri == "/a")
        #expect(try await Curl.get("\(harness.base)/b", ["-H", "Host: eu.billing.example.test"]).status == 200)
        #expect(try await Curl.get("\(harness.base)/c", ["-H", "Host: a.b.billing.example.test."]).status == 200)
        #expect(billing.requests.map(\.uri) == ["/b", "/c"])
        #expect(billing.requests.first?.value("host") == "eu.billing.example.test", "Host passes as the client sent it")

        let apex = try await Curl.get("\(harness.base)/d", ["-H", "Host: billing.example.test"])
        #expect(apex.status == 404, "a wildcard does not cover its apex")
        #expect(apex.body == "{\"error\":\"not_found\"}")
        #expect(apex.header("x-request-id") != nil)
        #expect(try await Curl.get("\(harness.base)/public/e", ["-H", "Host: anything.example"]).status == 200, "no host: any host")
        #expect(harness.backend.requests.map(\.uri) == ["/a", "/public/e"])
    }

    /// Found by an audit: a name in brackets (`[orders.example.test]`, which Go's
    /// `SplitHostPort` reads as the name) or with escapes matched no host route and went to a
    /// hostless one; the path's escapes must decode to UTF-8 (an overlong `.` is what lenient
    /// decoders turn into `..`). Both are 400, on HTTP/1.1 and HTTP/2, and nothing is forwarded.
    @Test func aHostOrPathABackendCouldReadOtherwiseIsRefused() async throws {
        let (harness, billing) = try await Self.start()
        defer { Task { await harness.stop(); await billing.stop() } }
        for host in ["[orders.example.test]", "[orders.example.test]:443", "[10.0.0.1]", "orders.example.tes%74"] {
            let answer = try await RawSocket.send(port: harness.port, "GET /public/x HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(host): \(answer)")
        }
        let absolute = try await RawSocket.send(port: harness.port, "GET http://[orders.example.test]/public/x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(absolute.hasPrefix("HTTP/1.1 400 "), "\(absolute)")
        let overlong = try await RawSocket.send(port: harness.port, "GET /public/%c0%ae%c0%ae/x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(overlong.hasPrefix("HTTP/1.1 400 "), "\(overlong)")
        #expect(try await Curl.get("\(harness.base)/public/v6", ["-H", "Host: [::1]:8080"]).status == 200, "an IPv6 literal is a host")

        let client = try await HTTP2TestClient.connect(port: harness.port, tls: false)
        defer { Task { await client.close() } }
        #expect(try await client.send(.init(path: "/public/y", authority: "[orders.example.test]")).status == 400)
        #expect(try await client.send(.init(path: "/public/%ff", authority: "a")).status == 400)
        #expect(harness.backend.requests.map(\.uri) == ["/public/v6"])
        #expect(billing.requests.isEmpty)
    }

    @Test func h2cChoosesTheRouteByAuthority() async throws {
        let (harness, billing) = try await Self.start()
        defer { Task { await harness.stop(); await billing.stop() } }
        let client = try await HTTP2TestClient.connect(port: harness.port, tls: false)
        defer { Task { await client.close() } }
        #expect(try await client.send(.init(path: "/h2/orders", authority: "orders.example.test:8080")).status == 200)
        #expect(try await client.send(.init(path: "/h2/billing", authority: "x.billing.example.test")).status == 200)
        let missing = try await client.send(.init(path: "/h2/none", authority: "elsewhere.example.test"))
        #expect(missing.status == 404)
        #expect(missing.text == "{\"error\":\"not_found\"}")
        #expect(harness.backend.requests.map(\.uri) == ["/h2/orders"])
        #expect(billing.requests.map(\.uri) == ["/h2/billing"])
    }

    @Test func http2OverTLSChoosesTheRouteByAuthority() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let (harness, billing) = try await Self.start(tls: certificates)
        defer { Task { await harness.stop(); await billing.stop() } }
        let tlsPort = try #require(harness.server.listenerAddresses.last?.port)
        let client = try await HTTP2TestClient.connect(port: tlsPort, tls: true)
        defer { Task { await client.close() } }
        #expect(try await client.send(.init(path: "/tls/orders", authority: "orders.example.test")).status == 200)
        #expect(try await client.send(.init(path: "/tls/billing", authority: "a.billing.example.test:443")).status == 200)
        #expect(try await client.send(.init(path: "/tls/none", authority: "127.0.0.1")).status == 404)
        #expect(harness.backend.requests.last?.value("x-forwarded-proto") == "https")
        #expect(billing.requests.map(\.uri) == ["/tls/billing"])

        // curl, as a user would: the name resolved to the proxy, HTTP/2 by ALPN.
        let curl = try await Curl.get(
            "https://orders.example.test:\(tlsPort)/tls/curl", ["-k", "--http2", "--resolve", "orders.example.test:\(tlsPort):127.0.0.1"])
        #expect(curl.status == 200)
        #expect(curl.version == "2")
        #expect(harness.backend.requests.last?.uri == "/tls/curl")
    }

    @Test func aWebSocketUpgradeChoosesTheRouteByHost() async throws {
        let (harness, billing) = try await Self.start()
        defer { Task { await harness.stop(); await billing.stop() } }
        let client = try await offPool { try WebSocketClient(port: harness.port, path: "/ws", host: "eu.billing.example.test") }
        #expect(client.status == 101, "\(client.responseHead)")
        try await offPool { try client.sendText("to billing") }
        #expect(try await offPool { try client.readFrame() }?.text == "echo:to billing")
        #expect(billing.requests.last?.uri == "/ws")
        #expect(harness.backend.requests.isEmpty)

        let nowhere = try await offPool { try WebSocketClient(port: harness.port, path: "/ws", host: "nowhere.example.test") }
        #expect(nowhere.status == 404)
        #expect(billing.requests.count == 1 && harness.backend.requests.isEmpty)
    }

    // MARK: allow

    /// `/admin/` admits sessions with the writer role; the backend's `/update` answers a
    /// `Session-Update` that removes `roles` altogether.
    static func startWithAllow() async throws -> ProxyHarness {
        try await ProxyHarness.start { configuration in
            configuration.routes.insert(
                Route(path: "/admin/", upstream: "api", auth: .required, allow: [
                    AllowRule(conditions: [.init(attribute: "roles", patterns: ["writer", "admin"])]),
                    AllowRule(conditions: [.init(attribute: "email", patterns: ["*@staff.example"])]),
                ]),
                at: 0)
        }
    }

    @Test func aRoleRemovedBySessionUpdateIsRefusedOnTheNextRequestOnEveryProtocol() async throws {
        let harness = try await Self.startWithAllow()
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")  // roles: reader, writer
        let h2 = try await HTTP2TestClient.connect(port: harness.port, tls: false)
        defer { Task { await h2.close() } }
        let ws = try await WebSocketTests.connect(harness, cookie: cookie, extra: [])
        #expect(ws.status == 101, "opened while the role was there")

        #expect(try await Curl.get("\(harness.base)/admin/report", ["-H", "Cookie: \(cookie)"]).status == 200)
        #expect(try await h2.send(.init(path: "/admin/report", headers: [("cookie", cookie)])).status == 200)
        // The backend answers this one with Session-Update: {"roles": null, ...}.
        #expect(try await Curl.get("\(harness.base)/admin/update", ["-H", "Cookie: \(cookie)"]).status == 200)
        let forwarded = harness.backend.requests.count

        let http1 = try await Curl.get("\(harness.base)/admin/report", ["-H", "Cookie: \(cookie)"])
        #expect(http1.status == 403)
        #expect(http1.body == "{\"error\":\"forbidden\"}")
        #expect(http1.header("x-request-id") != nil)
        let http2 = try await h2.send(.init(path: "/admin/report", headers: [("cookie", cookie)]))
        #expect(http2.status == 403)
        #expect(http2.text == "{\"error\":\"forbidden\"}")
        let upgrade = try await offPool { try WebSocketClient(port: harness.port, path: "/admin/ws", headers: ["Cookie: \(cookie)"]) }
        #expect(upgrade.status == 403)
        let page = try await Curl.get("\(harness.base)/admin/report", ["-H", "Cookie: \(cookie)", "-H", "Accept: text/html"])
        #expect(page.status == 403)
        #expect(page.header("content-type") == "text/html; charset=utf-8")
        #expect(page.body.contains("Access denied"))
        #expect(harness.backend.requests.count == forwarded, "nothing forwarded for a refused session")

        // The session itself is fine elsewhere, and the tunnel opened before stays up.
        #expect(try await Curl.get("\(harness.base)/api/me", ["-H", "Cookie: \(cookie)"]).status == 200)
        try await offPool { try ws.sendText("still open") }
        #expect(try await offPool { try ws.readFrame() }?.text == "echo:still open")
        #expect(harness.backend.requests.last?.value("x-user-email") == "new@example.com", "the same update set a new email")
    }

    /// The 403 of `allow` is a page for browsers only: a client that prefers JSON gets JSON
    /// even when it lists `text/html` at a low quality (found by a black-box audit: it got the page).
    @Test func theForbiddenPageIsForClientsThatPreferHTML() async throws {
        let harness = try await Self.startWithAllow()
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        // `Session-Update` removes the roles: refused on /admin/ from now on.
        #expect(try await Curl.get("\(harness.base)/api/update", ["-H", "Cookie: \(cookie)"]).status == 200)
        for (accept, page) in [
            ("application/json, text/html;q=0.1", false), ("*/*", false), ("text/html;q=abc", false),
            ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true), ("text/html", true),
        ] {
            let refused = try await Curl.get("\(harness.base)/admin/report", ["-H", "Cookie: \(cookie)", "-H", "Accept: \(accept)"])
            #expect(refused.status == 403, "\(accept)")
            if page {
                #expect(refused.header("content-type") == "text/html; charset=utf-8", "\(accept)")
                #expect(refused.body.contains("Access denied"), "\(accept)")
            } else {
                #expect(refused.header("content-type") == "application/json", "\(accept)")
                #expect(refused.body == "{\"error\":\"forbidden\"}", "\(accept)")
            }
        }
    }

    @Test func withoutASessionAllowDefersToAuth() async throws {
        let harness = try await Self.startWithAllow()
        defer { Task { await harness.stop() } }
        #expect(try await Curl.get("\(harness.base)/admin/report").status == 401)
        #expect(harness.backend.requests.isEmpty)
    }

    // MARK: rewrite_prefix, host_header, pools

    @Test func rewritePrefixAndHostHeader() async throws {
        let harness = try await ProxyHarness.start { configuration in
            configuration.routes.insert(Route(path: "/svc/", upstream: "target-host", auth: .none, rewritePrefix: "/base"), at: 0)
            configuration.routes.insert(Route(path: "/lit/", upstream: "literal-host", auth: .none, rewritePrefix: "/"), at: 0)
            var target = configuration.upstreams["api"]!
            target.hostHeader = .target
            configuration.upstreams["target-host"] = target
            var literal = configuration.upstreams["api"]!
            literal.hostHeader = .literal("api.internal:8443")
            configuration.upstreams["literal-host"] = literal
        }
        defer { Task { await harness.stop() } }
        let backendPort = harness.backend.port

        #expect(try await Curl.get("\(harness.base)/svc//a/./b?q=1&r=%2F", ["-H", "Host: front.example"]).status == 200)
        var seen = try #require(harness.backend.requests.last)
        #expect(seen.uri == "/base/a/b?q=1&r=%2F", "the normalized path, its prefix replaced, the query kept")
        #expect(seen.value("host") == "127.0.0.1:\(backendPort)", "host_header: target")
        #expect(seen.value("x-forwarded-host") == "front.example", "the client's host stays in X-Forwarded-Host")

        #expect(try await Curl.get("\(harness.base)/lit/users", ["-H", "Host: front.example"]).status == 200)
        seen = try #require(harness.backend.requests.last)
        #expect(seen.uri == "/users")
        #expect(seen.value("host") == "api.internal:8443", "host_header: a literal")

        #expect(try await Curl.get("\(harness.base)/public/x", ["-H", "Host: front.example"]).status == 200)
        #expect(harness.backend.requests.last?.value("host") == "front.example", "host_header: client")
    }

    @Test func twoUpstreamsNeverShareAConnectionToTheSameTarget() async throws {
        let harness = try await ProxyHarness.start { configuration in
            configuration.upstreams["twin"] = configuration.upstreams["api"]
            configuration.routes.insert(Route(path: "/twin/", upstream: "twin", auth: .none), at: 0)
        }
        defer { Task { await harness.stop() } }
        for path in ["/public/1", "/twin/1", "/public/2", "/twin/2"] {
            #expect(try await Curl.get("\(harness.base)\(path)").status == 200)
        }
        #expect(harness.backend.connectionCount == 2, "one pooled connection per upstream, each reused")
    }
}
