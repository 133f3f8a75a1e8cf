import CloakroomConfig
import CloakroomServer
import Foundation
import Logging
import Testing

/// SPEC "Client address" and `routes[].networks` over real sockets: the proxy behind a real
/// HAProxy on loopback that adds `X-Forwarded-For` and `X-Forwarded-Proto`, curl from other
/// loopback addresses, and IPv4 and IPv6 peers.
@Suite(.serialized)
struct ClientAddressTests {
    /// HAProxy in front of `port`: it connects from 127.0.0.2 (the trusted proxy), appends the
    /// client to `X-Forwarded-For` and says the client spoke HTTPS.
    final class Balancer: Sendable {
        let process: Process
        let port: Int
        let directory: URL

        init(proxyPort: Int) throws {
            port = try freePort()
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-haproxy-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let configuration = """
                defaults
                    mode http
                    timeout connect 2s
                    timeout client 10s
                    timeout server 10s
                frontend www
                    bind 127.0.0.1:\(port)
                    option forwardfor
                    http-request set-header X-Forwarded-Proto https
                    default_backend cloakroom
                backend cloakroom
                    server cloakroom 127.0.0.1:\(proxyPort) source 127.0.0.2

                """
            let path = directory.appendingPathComponent("haproxy.cfg")
            try configuration.write(to: path, atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
            process.arguments = ["-f", path.path, "-db"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// Waits until HAProxy accepts connections.
        func ready() async throws {
            for _ in 0..<100 {
                if (try? connectLoopback(port: port)).map({ Glibc.close($0); return true }) == true { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw HarnessError.noCookie(0)
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func start(accessLog: Logger? = nil) async throws -> ProxyHarness {
        try await ProxyHarness.start(accessLog: accessLog) { configuration in
            configuration.client.trustedProxies = [CIDRBlock("127.0.0.2/32")!]
            configuration.listeners.append(Listener(address: SocketAddressSpec(host: "::1", port: 0)))
            configuration.routes.insert(
                Route(path: "/v4only/", upstream: "api", auth: .none, networks: [CIDRBlock("127.0.0.0/8")!]), at: 0)
            configuration.routes.insert(Route(path: "/v6only/", upstream: "api", auth: .none, networks: [CIDRBlock("::1/128")!]), at: 0)
            configuration.routes.insert(
                Route(path: "/clients/", upstream: "api", auth: .none, networks: [CIDRBlock("127.0.0.3/32")!]), at: 0)
        }
    }

    @Test func behindHAProxyTheClientIsTheForwardedAddressAndHTTPS() async throws {
        let (accessLog, records) = CapturingLogHandler.logger()
        let harness = try await Self.start(accessLog: accessLog)
        let balancer = try Balancer(proxyPort: harness.port)
        defer { balancer.stop(); Task { await harness.stop() } }
        try await balancer.ready()
        let front = "http://127.0.0.1:\(balancer.port)"

        // curl from 127.0.0.3 through HAProxy, with a spoofed entry of its own in front.
        let response = try await Curl.get("\(front)/public/a", ["--interface", "127.0.0.3", "-H", "X-Forwarded-For: 203.0.113.66"])
        #expect(response.status == 200)
        let seen = try #require(harness.backend.requests.last)
        #expect(seen.values("x-forwarded-for") == ["127.0.0.3"], "the derived address, not the spoofed entry or the balancer")
        #expect(seen.values("x-forwarded-proto") == ["https"], "the balancer's X-Forwarded-Proto counts")

        // secure: auto: the cookie of a login through the balancer is Secure.
        let login = try await Curl.get("\(front)/login?sub=alice", ["--interface", "127.0.0.3"])
        let cookie = try #require(login.header("set-cookie"))
        #expect(cookie.contains("Secure"), "\(cookie)")

        // networks judge the derived address: 127.0.0.3 is let in, whatever the balancer's own address.
        #expect(try await Curl.get("\(front)/clients/x", ["--interface", "127.0.0.3"]).status == 200)
        #expect(try await Curl.get("\(front)/clients/x", ["--interface", "127.0.0.4"]).status == 403)

        // The access log names the client, not the balancer.
        let line = try #require(records.all.first { $0.contains("path=/public/a") }, "\(records.all)")
        #expect(line.contains("client=127.0.0.3"), "\(line)")
    }

    @Test func straightToTheProxyForwardingFieldsAreIgnored() async throws {
        let harness = try await Self.start()
        defer { Task { await harness.stop() } }
        let response = try await Curl.get(
            "\(harness.base)/public/b", ["--interface", "127.0.0.3", "-H", "X-Forwarded-For: 10.0.0.1", "-H", "X-Forwarded-Proto: https"])
        #expect(response.status == 200)
        let seen = try #require(harness.backend.requests.last)
        #expect(seen.values("x-forwarded-for") == ["127.0.0.3"])
        #expect(seen.values("x-forwarded-proto") == ["http"])
        let login = try await Curl.get("\(harness.base)/login?sub=alice")
        #expect(login.header("set-cookie")?.contains("Secure") == false)
    }

    @Test func networksAdmitIPv4AndIPv6PeersByTheirRanges() async throws {
        let harness = try await Self.start()
        defer { Task { await harness.stop() } }
        let v6Port = try #require(harness.server.listenerAddresses.last?.port)
        let v6 = "http://[::1]:\(v6Port)"

        #expect(try await Curl.get("\(harness.base)/v4only/a").status == 200)
        let refused = try await Curl.get("\(v6)/v4only/a")
        #expect(refused.status == 403)
        #expect(refused.body == "{\"error\":\"forbidden\"}")
        #expect(refused.header("x-request-id") != nil)
        #expect(try await Curl.get("\(v6)/v6only/a").status == 200)
        #expect(try await Curl.get("\(harness.base)/v6only/a").status == 403)
        #expect(try await Curl.get("\(harness.base)/clients/a", ["--interface", "127.0.0.3"]).status == 200)
        #expect(try await Curl.get("\(harness.base)/clients/a").status == 403)
        #expect(try await Curl.get("\(v6)/v4only/h2", ["--http2-prior-knowledge"]).status == 403, "HTTP/2 alike")
        #expect(harness.backend.requests.map(\.uri) == ["/v4only/a", "/v6only/a", "/clients/a"], "nothing refused is forwarded")
        #expect(harness.backend.requests.last?.value("x-forwarded-for") == "127.0.0.3")
        #expect(harness.backend.requests.dropLast().last?.value("x-forwarded-for") == "::1")
    }

    /// A dual-stack listener (`[::]`) sees an IPv4 client as `::ffff:127.0.0.1`: the backend and
    /// the access log (and a session it creates, from the same ``ClientInfo``) get `127.0.0.1`.
    @Test func anIPv4ClientOfADualStackListenerIsNamedByItsIPv4Address() async throws {
        let (accessLog, records) = CapturingLogHandler.logger()
        let harness = try await ProxyHarness.start(accessLog: accessLog) { configuration in
            configuration.listeners = [Listener(address: SocketAddressSpec(host: "::", port: 0))]
        }
        defer { Task { await harness.stop() } }
        let base = "http://127.0.0.1:\(harness.port)"
        #expect(try await Curl.get("\(base)/public/dual").status == 200)
        #expect(harness.backend.requests.last?.values("x-forwarded-for") == ["127.0.0.1"])
        let line = try #require(records.all.first { $0.contains("path=/public/dual") }, "\(records.all)")
        #expect(line.contains("client=127.0.0.1 ") || line.hasSuffix("client=127.0.0.1"), "\(line)")
    }
}
