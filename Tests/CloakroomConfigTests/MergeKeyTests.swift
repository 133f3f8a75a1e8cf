import Testing

@testable import CloakroomConfig

/// YAML merge keys (`<<: *anchor`) reuse an anchored mapping, as YAML 1.1's merge type says
/// (they were read as an unknown key `<<`, found by an audit).
@Suite struct MergeKeyTests {
    static let upstreams = "upstreams:\n  api: { targets: [\"http://127.0.0.1:9000\"] }\n  admin: { targets: [\"http://127.0.0.1:9001\"] }\n"

    @Test func aRouteTakesTheAnchoredKeysAndItsOwnWin() throws {
        let yaml = """
            listen: [{ address: "127.0.0.1:8080" }]
            routes:
              - &private { path: /api/, upstream: api, auth: required, allow: [{ roles: admin }] }
              - <<: *private
                path: /reports/
              - <<: [*private, { upstream: admin, auth: none, rewrite_prefix: /s }]
                path: /status/
                auth: optional

            """ + Self.upstreams
        let routes = try #require(load(yaml)).routes
        #expect(routes.map(\.path) == ["/api/", "/reports/", "/status/"])
        #expect(routes.map(\.upstream) == ["api", "api", "api"], "the first mapping of a list wins over a later one")
        #expect(routes[1].auth == .required && routes[1].allow == routes[0].allow)
        #expect(routes[2].auth == .optional, "a key written in the mapping wins")
        #expect(routes[2].rewritePrefix == "/s", "a key only a later mapping has is merged")
    }

    @Test func aMergeOfSomethingElseIsReportedAtItsMapping() {
        let yaml = """
            listen: [{ address: "127.0.0.1:8080" }]
            routes:
              - <<: /api/
                upstream: api

            """ + Self.upstreams
        let found = problems(in: yaml)
        #expect(found.first?.path == "routes[0]", "\(found)")
        #expect(found.first?.message.contains("merge key (<<)") == true, "\(found)")
    }
}
