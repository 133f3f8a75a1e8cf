import Testing

@testable import CloakroomConfig

/// The index `check` uses to find a route an earlier one shadows gives the same answer as
/// comparing every pair with ``Route/shadows(_:)``, which states the rule.
@Suite struct RouteShadowingTests {
    static let hosts: [RouteHost?] = [
        nil, .exact("example.com"), .exact("a.example.com"), .exact("b.a.example.com"), .exact("other.test"),
        .wildcard(suffix: "example.com"), .wildcard(suffix: "a.example.com"), .wildcard(suffix: "com"), .wildcard(suffix: "test"),
    ]
    static let paths = ["/", "/api", "/api/", "/api/v1", "/api/v1/", "/apix", "/api/v1/x", "/b", "/b/c/", "/b/c/d"]

    /// Every earlier route, compared one by one: the rule itself.
    static func bruteForce(_ routes: [Route], _ index: Int) -> Int? {
        (0..<index).first { routes[$0].shadows(routes[index]) }
    }

    @Test(arguments: 1...40)
    func theIndexAgreesWithComparingEveryPair(seed: Int) {
        var random = SplitMix(seed: UInt64(seed))
        let routes = (0..<60).map { _ in
            Route(
                path: Self.paths[Int(random.next() % UInt64(Self.paths.count))], upstream: "api", auth: .required,
                host: Self.hosts[Int(random.next() % UInt64(Self.hosts.count))])
        }
        var index = RouteShadowing()
        for (position, route) in routes.enumerated() {
            #expect(index.firstShadowing(route) == Self.bruteForce(routes, position), "routes[\(position)] \(route.path) \(String(describing: route.host))")
            index.insert(route, at: position)
        }
    }

    @Test func theFirstShadowingRouteIsNamedNotTheClosest() {
        let routes = [
            Route(path: "/api/", upstream: "api", auth: .required, host: .wildcard(suffix: "example.com")),
            Route(path: "/api/v1/", upstream: "api", auth: .required, host: .exact("a.example.com")),
            Route(path: "/api/v1/x", upstream: "api", auth: .required, host: .exact("a.example.com")),
        ]
        var index = RouteShadowing()
        routes.prefix(2).enumerated().forEach { index.insert($1, at: $0) }
        #expect(index.firstShadowing(routes[2]) == 0)
        #expect(index.firstShadowing(Route(path: "/api", upstream: "api", auth: .required, host: .exact("example.com"))) == nil,
            "a wildcard never matches its apex")
        #expect(index.firstShadowing(Route(path: "/apix", upstream: "api", auth: .required, host: .exact("a.example.com"))) == nil,
            "/api/ is not a segment prefix of /apix")
    }

    /// A small deterministic generator, so a failing seed can be rerun.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
