import CloakroomConfig
import CloakroomProxy
import Testing

@Suite struct RouteTableTests {
    /// The index of the route `path` matches in `table`, or `nil`.
    func matchIndex(_ table: RouteTable, _ target: String) -> Int? {
        guard let path = RequestPath(target: target)?.path else {
            Issue.record("not a valid target: \(target)")
            return nil
        }
        return table.match(path)?.index
    }

    @Test(arguments: ["/api", "/api/", "/api/x", "/api/x/y", "/api?q=1", "/api/?q", "/api//x"])
    func segmentPrefixMatches(target: String) {
        let table = RouteTable([Route(path: "/api", upstream: "api")])
        #expect(matchIndex(table, target) == 0, "\(target)")
    }

    @Test(arguments: ["/apix", "/ap", "/", "/API", "/x/api", "/api-v2", "/api.json"])
    func segmentPrefixDoesNotMatchOtherSegments(target: String) {
        let table = RouteTable([Route(path: "/api", upstream: "api")])
        #expect(matchIndex(table, target) == nil, "\(target)")
    }

    @Test func trailingSlashPrefixAlsoTakesTheBarePath() {
        let table = RouteTable([Route(path: "/public/", upstream: "api", auth: .none)])
        #expect(matchIndex(table, "/public/x") == 0)
        #expect(matchIndex(table, "/public/") == 0)
        #expect(matchIndex(table, "/public/a/b?c") == 0)
        #expect(matchIndex(table, "/public") == 0, "the policy redirects it to /public/")
        #expect(matchIndex(table, "/publicity") == nil)
        #expect(matchIndex(table, "/publi") == nil)
    }

    /// The same in a group large enough to be probed by candidate prefixes, where the bare path
    /// is a key of its own that the first route with the slash keeps.
    @Test func aLargeGroupMatchesTheBarePathToTheFirstRouteWithTheSlash() {
        var routes = (0..<20).map { Route(path: "/r\($0)/", upstream: "api") }
        routes.insert(Route(path: "/admin/", upstream: "admin"), at: 3)
        routes.append(Route(path: "/admin", upstream: "late"))
        routes.append(Route(path: "/", upstream: "web"))
        let table = RouteTable(routes)
        #expect(table.match("/admin")?.upstream == "admin")
        #expect(table.match("/admin/x")?.upstream == "admin")
        #expect(table.match("/r7")?.upstream == "api")
        #expect(table.match("/adminx")?.upstream == "web")
        let exactFirst = RouteTable([Route(path: "/admin", upstream: "exact")] + routes)
        #expect(exactFirst.match("/admin")?.upstream == "exact", "an earlier route for the bare path keeps it")
    }

    @Test func rootCatchesEverything() {
        let table = RouteTable([Route(path: "/", upstream: "api")])
        for target in ["/", "/x", "/a/b/c", "/?q", "/public"] {
            #expect(matchIndex(table, target) == 0, "\(target)")
        }
    }

    @Test func firstMatchInOrderWins() {
        let table = RouteTable([
            Route(path: "/public/", upstream: "static", auth: .none),
            Route(path: "/api/admin", upstream: "admin", auth: .required),
            Route(path: "/api", upstream: "api", auth: .optional),
            Route(path: "/", upstream: "web", auth: .required),
        ])
        #expect(table.match("/public/logo.png")?.upstream == "static")
        #expect(table.match("/api/admin/users")?.upstream == "admin")
        #expect(table.match("/api/adminx")?.upstream == "api")
        #expect(table.match("/api/users")?.upstream == "api")
        #expect(table.match("/public")?.upstream == "static")
        #expect(table.match("/other")?.upstream == "web")
    }

    @Test func earlierBroaderRouteShadowsLaterOne() {
        let table = RouteTable([
            Route(path: "/", upstream: "first", auth: .none),
            Route(path: "/api", upstream: "second", auth: .required),
        ])
        let entry = table.match("/api/x")
        #expect(entry?.index == 0)
        #expect(entry?.upstream == "first")
        #expect(entry?.auth == Route.Auth.none)
    }

    @Test func entriesKeepFileOrderAndSettings() {
        let table = RouteTable([
            Route(path: "/a", upstream: "ua", auth: .optional),
            Route(path: "/b", upstream: "ub", auth: .none),
        ])
        #expect(table.entries.map(\.index) == [0, 1])
        #expect(table.entries.map(\.path) == ["/a", "/b"])
        #expect(table.entries.map(\.upstream) == ["ua", "ub"])
        #expect(table.entries.map(\.auth) == [.optional, Route.Auth.none])
    }

    @Test func noRouteMeansNil() {
        let table = RouteTable([Route(path: "/only", upstream: "api")])
        #expect(table.match("/") == nil)
        #expect(table.match("/other") == nil)
    }
}
