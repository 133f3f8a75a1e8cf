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

    /// Tables of 60 routes, each route's path and host picked by a different stride per table,
    /// so pairs of paths and hosts meet in both orders across the 40 tables.
    @Test(arguments: 1...40)
    func theIndexAgreesWithComparingEveryPair(table: Int) {
        // Half the tables have no `/` route and no hostless one, which would shadow the rest.
        let paths = table.isMultiple(of: 2) ? Self.paths : Array(Self.paths.dropFirst())
        let hosts = table.isMultiple(of: 3) ? Self.hosts : Array(Self.hosts.dropFirst())
        let routes = (0..<60).map { k in
            Route(
                path: paths[(k * (table % 7 + 1) + table) % paths.count], upstream: "api", auth: .required,
                host: hosts[(k * (table % 5 + 2) + k / 3 + table) % hosts.count])
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
}
