import CloakroomConfig
import CloakroomServer
import Foundation
import Testing

/// A reload switches host routes and upstream certificates for the next request, on open
/// keep-alive connections too, without dropping a connection or a tunnel; the TLS files are
/// read again on every reload.
@Suite(.serialized)
struct RoutingReloadTests {
    @Test func reloadSwitchesHostRoutesOnAnOpenKeepAliveConnection() async throws {
        let source = ReloadTests.Source()
        let other = try await TestBackend.start()
        defer { Task { await other.stop() } }
        let harness = try await ProxyHarness.start(
            adjust: { configuration in
                configuration.routes.insert(Route(path: "/", upstream: "api", auth: .none, host: .exact("app.example.test")), at: 0)
                configuration.upstreams["other"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: other.port)]))
            },
            configurationSource: { initial in { try source.read(initial: initial) } })
        defer { Task { await harness.stop() } }
        let client = try KeepAliveClient(port: harness.port)
        let request = "GET /page HTTP/1.1\r\nHost: app.example.test\r\n\r\n"
        #expect(try await offPool { try client.send(request) }.status == 200)
        #expect(harness.backend.requests.last?.uri == "/page")

        var changed = harness.server.configuration
        changed.routes[0] = Route(path: "/", upstream: "other", auth: .none, host: .exact("app.example.test"), rewritePrefix: "/v2")
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)
        #expect(try await offPool { try client.send(request) }.status == 200, "the same connection, after the reload")
        #expect(other.requests.map(\.uri) == ["/v2/page"])
        #expect(harness.backend.requests.count == 1)
    }

    @Test func reloadRereadsUpstreamCertificatesWithoutDroppingConnectionsOrTunnels() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        // The upstream presents a certificate from a CA the proxy does not trust yet.
        let secure = try await TestBackend.start(tls: .init(certificate: pki.otherServerCertificate, privateKey: pki.otherServerKey))
        defer { Task { await secure.stop() } }
        let trusted = pki.path("trusted.pem")
        try FileManager.default.copyItem(atPath: pki.ca, toPath: trusted)

        let source = ReloadTests.Source()
        let harness = try await ProxyHarness.start(
            adjust: { configuration in
                var upstream = Upstream(kind: .targets([UpstreamTarget(host: "localhost", port: secure.port, scheme: .https)]))
                upstream.tls.caPath = trusted
                upstream.connectTimeout = .seconds(1)
                configuration.upstreams["secure"] = upstream
                configuration.routes.insert(Route(path: "/secure/", upstream: "secure", auth: .none), at: 0)
            },
            configurationSource: { initial in { try source.read(initial: initial) } })
        defer { Task { await harness.stop() } }

        let cookie = try await harness.login("alice")
        let tunnel = try await WebSocketTests.connect(harness, cookie: cookie)
        #expect(tunnel.status == 101)
        let client = try KeepAliveClient(port: harness.port)
        let request = "GET /secure/x HTTP/1.1\r\nHost: localhost\r\n\r\n"
        #expect(try await offPool { try client.send(request) }.status == 502, "not trusted yet")

        // The same configuration, the CA file's content replaced: a reload reads it again.
        try FileManager.default.removeItem(atPath: trusted)
        try FileManager.default.copyItem(atPath: pki.otherCA, toPath: trusted)
        source.set(harness.server.configuration)
        #expect(await harness.server.reload() == .reloaded)

        #expect(try await offPool { try client.send(request) }.status == 200, "trusted now, on the same client connection")
        #expect(secure.requests.map(\.uri) == ["/secure/x"])
        try await offPool { try tunnel.sendText("after reload") }
        #expect(try await offPool { try tunnel.readFrame() }?.text == "echo:after reload", "the tunnel survived")

        // A file that no longer holds a certificate: the reload is refused, naming the key,
        // and the running configuration keeps its context.
        try "garbage\n".write(toFile: trusted, atomically: true, encoding: .utf8)
        guard case .refused(let problems) = await harness.server.reload() else {
            Issue.record("a broken CA file was accepted")
            return
        }
        #expect(problems == ["upstreams.secure.tls.ca: file \"\(trusted)\" holds no readable PEM certificate"])
        #expect(try await offPool { try client.send(request) }.status == 200)

        // Two broken files at once: the refusal names both, as `cloakroom check` does (found by
        // a black-box audit: only the first one was reported).
        var twoProblems = harness.server.configuration
        twoProblems.upstreams["secure"]?.tls.certificatePath = pki.clientCertificate
        twoProblems.upstreams["secure"]?.tls.privateKeyPath = pki.strayKey
        source.set(twoProblems)
        guard case .refused(let both) = await harness.server.reload() else {
            Issue.record("accepted")
            return
        }
        #expect(both.count == 2, "\(both)")
        #expect(both.contains { $0.hasPrefix("upstreams.secure.tls.ca:") } && both.contains { $0.hasPrefix("upstreams.secure.tls.private_key:") })
        #expect(try await offPool { try client.send(request) }.status == 200)
    }
}
