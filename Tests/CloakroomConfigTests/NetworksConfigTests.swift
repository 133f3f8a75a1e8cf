import Testing

@testable import CloakroomConfig

/// `client.trusted_proxies` and `routes[].networks`: IPv4 and IPv6 networks compiled at load,
/// every bad entry reported at its key path in one pass.
@Suite("Decoding trusted proxies and route networks")
struct NetworksConfigTests {
    private func config(client: String = "", routes: String) -> String {
        "listen: [{ address: \"127.0.0.1:8080\" }]\n" + client + "\n" + routes
            + "\nupstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n"
    }

    @Test func networksAndTrustedProxiesAreCompiled() throws {
        let yaml = config(
            client: "client: { trusted_proxies: [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\"] }",
            routes: "routes: [{ path: /, upstream: api, networks: [\"127.0.0.0/8\", \"::1/128\"] }]")
        let configuration = try #require(load(yaml))
        #expect(configuration.client.trustedProxies.map(\.description) == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"])
        let networks = configuration.routes[0].networks
        #expect(networks.count == 2)
        #expect(networks.containsAddress(IPAddress("127.9.9.9")!))
        #expect(networks.containsAddress(IPAddress("::1")!))
        #expect(!networks.containsAddress(IPAddress("128.0.0.1")!))
        #expect(!networks.containsAddress(IPAddress("::2")!))
    }

    @Test func defaultsAreEmpty() throws {
        let configuration = try #require(load(config(routes: "routes: [{ path: /, upstream: api }]")))
        #expect(configuration.client.trustedProxies.isEmpty)
        #expect(configuration.routes[0].networks.isEmpty)
    }

    @Test func everyBadEntryIsReportedWithItsKeyPath() {
        let yaml = config(
            client: "client: { trusted_proxies: [\"10.0.0.0/33\", \"lb.internal\"] }",
            routes: "routes: [{ path: /, upstream: api, networks: [\"10.0.0.1/8\", \"::1/129\", \"ok\"] }]")
        let found = problems(in: yaml)
        #expect(
            found.map(\.path) == [
                "client.trusted_proxies[0]", "client.trusted_proxies[1]", "routes[0].networks[0]", "routes[0].networks[1]",
                "routes[0].networks[2]",
            ], "\(found)")
        #expect(found.first?.message.contains("0 to 32") == true)
        #expect(found.dropFirst(2).first?.message.contains("the network is 10.0.0.0/8") == true, "\(found)")
    }

    @Test func networksMustBeAList() {
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api, networks: \"10.0.0.0/8\" }]"), at: "routes[0].networks", "list")
    }
}

/// The address and range arithmetic the client-address rule and `networks` run per request.
@Suite("IP addresses and CIDR blocks")
struct IPAddressTests {
    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1"), ("::1", "::1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::", "::"),
        ("::ffff:192.0.2.7", "192.0.2.7"), ("fe80::1:2", "fe80::1:2"), ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
        ("2001:db8::192.0.2.1", "2001:db8::c000:201"),
    ])
    func addressesParseAndPrintCanonically(text: String, printed: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == printed)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1::2::3", ":::", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:", "fe80::1%eth0", "a.b.c.d"])
    func garbageIsNoAddress(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func forwardedEntriesMayCarryBracketsAndPorts() {
        #expect(IPAddress(forwardedEntry: "[2001:db8::7]:443")?.description == "2001:db8::7")
        #expect(IPAddress(forwardedEntry: "[::1]")?.description == "::1")
        #expect(IPAddress(forwardedEntry: "198.51.100.4:5123")?.description == "198.51.100.4")
        #expect(IPAddress(forwardedEntry: "unknown") == nil)
        #expect(IPAddress(forwardedEntry: "[::1]x") == nil)
    }

    @Test func ipv4BlocksHoldMappedPeersAndNoIPv6() throws {
        let block = try #require(CIDRBlock("192.0.2.0/24"))
        #expect(block.contains(IPAddress("192.0.2.200")!))
        #expect(block.contains(IPAddress("::ffff:192.0.2.1")!), "a dual-stack listener's view of an IPv4 peer")
        #expect(!block.contains(IPAddress("192.0.3.1")!))
        #expect(!block.contains(IPAddress("::c000:201")!), "an IPv6 address with the same low bits")
        let everyV4 = try #require(CIDRBlock("0.0.0.0/0"))
        #expect(everyV4.contains(IPAddress("8.8.8.8")!))
        #expect(!everyV4.contains(IPAddress("::1")!))
        let everything = try #require(CIDRBlock("::/0"))
        #expect(everything.contains(IPAddress("::1")!) && everything.contains(IPAddress("8.8.8.8")!))
        let odd = try #require(CIDRBlock("2001:db8:8000::/33"))
        #expect(odd.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!odd.contains(IPAddress("2001:db8:7fff::1")!))
        let low = try #require(CIDRBlock("2001:db8::ff00/120"))
        #expect(low.contains(IPAddress("2001:db8::ffab")!))
        #expect(!low.contains(IPAddress("2001:db8::1ab")!))
    }
}

/// `routes[].cors`.
@Suite("Decoding CORS")
struct CORSConfigTests {
    private func config(_ cors: String) -> String {
        "listen: [{ address: \"127.0.0.1:8080\" }]\nroutes: [{ path: /, upstream: api, cors: \(cors) }]\n"
            + "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }\n"
    }

    @Test func corsIsReadWithItsDefaults() throws {
        let configuration = try #require(load(config("{ origins: [\"HTTPS://App.Example.com\"] }")))
        let cors = try #require(configuration.routes[0].cors)
        #expect(cors.origins == ["https://app.example.com"])
        #expect(cors.methods == ["GET", "HEAD", "POST"])
        #expect(cors.headers == [])
        #expect(!cors.allowCredentials)
        #expect(cors.maxAge == .seconds(600))
        let full = try #require(
            load(config("{ origins: [\"https://a.test\"], methods: [get, DELETE], headers: [Content-Type], allow_credentials: true, max_age: 1h }")))
        #expect(full.routes[0].cors == CORSSettings(
            origins: ["https://a.test"], methods: ["GET", "DELETE"], headers: ["Content-Type"], allowCredentials: true, maxAge: .seconds(3600)))
        #expect(try #require(load(config("null"))).routes[0].cors == nil)
    }

    /// As browsers send `Origin`: without the scheme's default port (found by a black-box audit).
    @Test func originsDropTheSchemesDefaultPort() throws {
        let configuration = try #require(load(config("{ origins: [\"https://a.test:443\", \"http://b.test:80\", \"http://c.test:8080\"] }")))
        #expect(configuration.routes[0].cors?.origins == ["https://a.test", "http://b.test", "http://c.test:8080"])
    }

    @Test func aWildcardWithCredentialsIsRefused() {
        expectSingleProblem(config("{ origins: [\"*\"], allow_credentials: true }"), at: "routes[0].cors.origins", "only without allow_credentials")
    }

    /// Origins compare whole: `https://*.a.com` passed `check` and never matched (found by a
    /// black-box audit). `"*"` alone is the only wildcard.
    @Test func aWildcardInsideAnOriginIsRefused() throws {
        for origin in ["https://*.a.com", "https://app.a.com:*", "*.a.com", "https://a*"] {
            expectSingleProblem(
                config("{ origins: [\"https://ok.test\", \"\(origin)\"] }"), at: "routes[0].cors.origins[1]",
                "wildcards inside an origin are not supported")
        }
        let found = problems(in: config("{ origins: [\"https://*.a.com\"] }"))
        #expect(found.first?.message.contains("list each origin") == true, "\(found)")
        #expect(try #require(load(config("{ origins: [\"*\"] }"))).routes[0].cors?.anyOrigin == true)
    }

    @Test func everyBadPartIsReportedWithItsKeyPath() {
        let found = problems(in: config("{ origins: [\"https://a.test/path\", \"*\"], methods: [\"GE T\"], headers: [\"a:b\"], colour: red }"))
        #expect(
            Set(found.map(\.path)) == [
                "routes[0].cors.colour", "routes[0].cors.origins[0]", "routes[0].cors.origins[1]", "routes[0].cors.methods[0]",
                "routes[0].cors.headers[0]",
            ], "\(found)")
        expectSingleProblem(config("{ methods: [GET] }"), at: "routes[0].cors.origins", "required")
    }
}
