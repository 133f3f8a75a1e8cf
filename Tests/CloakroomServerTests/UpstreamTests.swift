import CloakroomConfig
import Foundation
import Testing

@Suite(.serialized) struct UpstreamTests {
    @Test func backendDownIs502() async throws {
        // A port with nothing listening: bind the backend and stop it.
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        await proxy.backend.stop()
        let response = try await Curl.get("\(proxy.base)/public/x")
        #expect(response.status == 502)
        #expect(response.body == "{\"error\":\"bad_gateway\"}")
        #expect(response.header("x-request-id") != nil)
    }

    @Test func slowBackendIs504() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let started = Date()
        let response = try await Curl.get("\(proxy.base)/public/slow")
        #expect(response.status == 504)
        #expect(response.body == "{\"error\":\"gateway_timeout\"}")
        #expect(Date().timeIntervalSince(started) < 15, "at response_timeout (2 s), not curl's 20 s")
    }

    @Test func roundRobinSkipsATargetThatRefuses() async throws {
        let second = try await TestBackend.start()
        let dead = try await TestBackend.start()
        let deadPort = dead.port
        await dead.stop()
        let proxy = try await ProxyHarness.start { configuration in
            guard case .targets(var targets) = configuration.upstreams["api"]!.kind else { return }
            targets.append(UpstreamTarget(host: "127.0.0.1", port: deadPort))
            targets.append(UpstreamTarget(host: "127.0.0.1", port: second.port))
            configuration.upstreams["api"]!.kind = .targets(targets)
        }
        defer { Task { await proxy.stop(); await second.stop() } }
        var statuses: [Int] = []
        for _ in 0..<6 {
            // A new connection each time so the pool cannot hide the rotation.
            statuses.append(try await Curl.get("\(proxy.base)/public/rr", ["-H", "Connection: close"]).status)
        }
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(proxy.backend.requests.count > 0)
        #expect(second.requests.count > 0)
    }

    @Test func staleIdleConnectionIsRetriedForIdempotentRequests() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/one").status == 200)
        // The backend goes away and comes back on the same port: the pooled connection is stale.
        let port = proxy.backend.port
        await proxy.backend.stop()
        let replacement = try await TestBackend.start(port: port)
        defer { Task { await replacement.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/two").status == 200)
        #expect(replacement.requests.map(\.uri) == ["/public/two"])
    }

    /// The race a pool cannot see coming: the backend closes a kept-alive connection just as a
    /// request goes out on it. A GET is sent again, once, on a fresh connection.
    @Test func requestOnAConnectionClosedUnderItIsRetriedWhenIdempotent() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/warm").status == 200)
        let response = try await Curl.get("\(proxy.base)/public/drop-once")
        #expect(response.status == 200)
        #expect(proxy.backend.requests.map(\.uri) == ["/public/warm", "/public/drop-once", "/public/drop-once"])
        #expect(proxy.backend.connectionCount == 2)
    }

    /// A POST may have had its effect before the connection closed: never sent twice.
    @Test func requestOnAConnectionClosedUnderItIsNotRetriedWhenUnsafe() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/warm").status == 200)
        let response = try await Curl.get("\(proxy.base)/public/drop-once", ["-X", "POST"])
        #expect(response.status == 502)
        #expect(proxy.backend.requests.map(\.uri) == ["/public/warm", "/public/drop-once"])
    }

    @Test func idlePooledConnectionsCloseAfterTheUpstreamIdleTimeout() async throws {
        // Long enough for two curls in a row on a loaded machine; the wait below is longer.
        let proxy = try await ProxyHarness.start { $0.upstreams["api"]!.idleTimeout = .seconds(1) }
        defer { Task { await proxy.stop() } }
        #expect(try await Curl.get("\(proxy.base)/public/a").status == 200)
        #expect(try await Curl.get("\(proxy.base)/public/b").status == 200)
        #expect(proxy.backend.connectionCount == 1, "the second request reused the pooled connection")
        var open = proxy.backend.openConnections
        for _ in 0..<60 where open > 0 {
            try await Task.sleep(for: .milliseconds(100))
            open = proxy.backend.openConnections
        }
        #expect(open == 0, "the pooled connection is closed once idle for idle_timeout")
        #expect(try await Curl.get("\(proxy.base)/public/c").status == 200, "a new connection is made afterwards")
    }
}

extension UpstreamTests {
    /// Issue 19: with `max_connections: 1` and two event loops, a request on the loop without the
    /// idle pooled connection used to wait its `connect_timeout` and get 502 while that
    /// connection sat idle on the other loop. Now it takes over the slot.
    @Test func anIdleConnectionOnOneLoopDoesNotStarveTheOther() async throws {
        let proxy = try await ProxyHarness.start(threads: 2) { $0.upstreams["api"]!.maxConnections = 1 }
        defer { Task { await proxy.stop() } }
        var statuses: [Int] = []
        // Each curl is a new client connection; NIO spreads them over the two loops in turn. A
        // request that waited for the pool slot would get 502 after connect_timeout.
        for _ in 0..<6 { statuses.append(try await Curl.get("\(proxy.base)/public/x").status) }
        #expect(statuses == Array(repeating: 200, count: 6))
        #expect(proxy.backend.openConnections <= 1, "max_connections holds across loops")
    }
}
