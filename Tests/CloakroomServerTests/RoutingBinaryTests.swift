import Foundation
import Testing

/// The binary with host routes and `allow`: `cloakroom check` on routes that can never match and
/// on `allow` without a session, and a refused session counted in the metrics and the access log.
@Suite(.serialized) struct RoutingBinaryTests {
    @Test func checkReportsRoutesThatNeverMatchAndAllowOnAnOpenRoute() async throws {
        let path = try CommandLineTests.writeConfig("""
            listen:
              - address: "127.0.0.1:8080"
            routes:
              - { host: "*.example.com", path: /api/, upstream: api }
              - { host: admin.example.com, path: /api/users, upstream: api }
              - { host: Admin.Example.com, path: /, upstream: api, auth: none, allow: [{ roles: [admin] }] }
              - { host: admin.example.com, path: /, upstream: api }
              - { path: /, upstream: api, rewrite_prefix: /v1 }
              - { host: other.example.com, path: /x, upstream: api }
            upstreams:
              api:
                targets: ["https://127.0.0.1:9443"]
                host_header: target
                tls: { ca: /nonexistent/ca.pem }
            """)
        let result = try await CommandLineTests.run(["check", "--config", path])
        #expect(result.status == 1)
        #expect(
            result.output.split(separator: "\n") == [
                "routes[1].path: routes[0] (path \"/api/\", host \"*.example.com\") comes first and matches every request this route would, so this route never matches",
                "routes[2].allow: not allowed on an auth: none route (no session is looked up there); use auth: optional or required",
                "routes[3].path: routes[2] has the same path and host, so this route never matches",
                "routes[5].path: routes[4] (path \"/\", any host) comes first and matches every request this route would, so this route never matches",
                "upstreams.api.tls.ca: file \"/nonexistent/ca.pem\" does not exist",
            ], "\(result.output)")
    }

    @Test func aRefusedSessionIsCountedInMetricsAndTheAccessLog() async throws {
        let proxy = try await BinaryHarness(routes: """
            routes:
              - path: /admin/
                upstream: api
                allow:
                  - roles: [admin]
              - path: /
                upstream: api
            """)
        try await proxy.start()
        defer { Task { await proxy.finish() } }
        let reader = try await proxy.login("rob")  // roles: reader, writer
        #expect(try await proxy.status(reader, "/admin/users") == 403)
        #expect(try await proxy.status(reader, "/other") == 200)
        let admin = try await AdminTests.createSession(proxy, attributes: "{\"sub\":\"ada\",\"roles\":[\"admin\"]}")
        #expect(try await proxy.status(admin, "/admin/users") == 200)
        #expect(proxy.backend.requests.filter { $0.uri.hasPrefix("/admin/") }.map { $0.value("x-user-id") } == ["ada"])

        let auth = ["-H", "Authorization: Bearer \(BinaryHarness.token)"]
        let samples = try PrometheusText.parse(try await Curl.get("\(proxy.admin)/metrics", auth).body)
        #expect(samples["cloakroom_requests_total{route=\"/admin/\",status=\"403\",outcome=\"complete\"}"] == 1)
        #expect(samples["cloakroom_requests_total{route=\"/admin/\",status=\"200\",outcome=\"complete\"}"] == 1)

        try await proxy.stop()
        let lines = try String(contentsOfFile: proxy.stdoutPath, encoding: .utf8).split(separator: "\n")
        let entries = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let refused = try #require(entries.first { $0["status"] as? Int == 403 })
        #expect(refused["path"] as? String == "/admin/users")
        #expect(refused["sub"] as? String == "rob")
        #expect(refused["session"] is String)
    }
}
