import Testing

@testable import CloakroomConfig

/// `routes` and `upstreams`.
@Suite("Decoding routes and upstreams")
struct ConfigurationDecoderRoutesTests {
    private let listen = "listen: [{ address: \"127.0.0.1:8080\" }]\n"

    private func config(
        routes: String = "routes: [{ path: /, upstream: api }]",
        upstreams: String = "upstreams: { api: { builtin: echo } }"
    ) -> String {
        listen + routes + "\n" + upstreams + "\n"
    }

    @Test func routesAreRequiredAndNonEmpty() {
        expectSingleProblem(
            listen + "upstreams: { api: { builtin: echo } }\n", at: "routes", "required key is missing", exact: true)
        expectSingleProblem(config(routes: "routes: []"), at: "routes", "at least one route")
    }

    @Test func routeAuthDefaultsToRequired() throws {
        let configuration = try #require(
            load(config(routes: "routes: [{ path: /a/, upstream: api, auth: optional }, { path: /, upstream: api }]")))
        #expect(configuration.routes.map(\.auth) == [.optional, .required])
    }

    @Test func unknownUpstream() {
        let routes = """
            routes:
              - { path: /public/, upstream: api, auth: none }
              - { path: /admin/, upstream: api }
              - { path: /, upstream: apii }
            """
        expectSingleProblem(config(routes: routes), at: "routes[2].upstream", "unknown upstream \"apii\"", exact: true)
    }

    @Test func routePathStartsWithSlash() {
        expectSingleProblem(
            config(routes: "routes: [{ path: api, upstream: api }]"), at: "routes[0].path", "must start with \"/\"")
    }

    @Test func routeAuthIsOneOfThree() {
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api, auth: maybe }]"), at: "routes[0].auth",
            "expected one of none, optional, required, got \"maybe\"", exact: true)
    }

    @Test func missingUpstreamIsReportedOnce() {
        expectSingleProblem(
            config(routes: "routes: [{ path: / }]"), at: "routes[0].upstream", "required key is missing", exact: true)
    }

    @Test func repeatedRoutePathNeverMatches() {
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api }, { path: /, upstream: api }]"),
            at: "routes[1].path", "routes[0] has the same path")
    }

    @Test func routeMustBeAMapping() {
        expectSingleProblem(
            config(routes: "routes: [\"/\"]"), at: "routes[0]", "expected a mapping, got \"/\"", exact: true)
    }

    @Test func upstreamsAreRequiredAndNonEmpty() {
        expectSingleProblem(
            listen + "routes: [{ path: /, upstream: api }]\n", at: "upstreams", "required key is missing", exact: true)
        expectSingleProblem(config(upstreams: "upstreams: {}"), at: "upstreams", "at least one upstream")
    }

    @Test func upstreamSettingsAreRead() throws {
        let upstreams = """
            upstreams:
              api:
                targets: ["http://a:1", "http://b:2"]
                connect_timeout: 1s
                response_timeout: 2m
                idle_timeout: 3s
                max_connections: 4
            """
        let upstream = try #require(load(config(upstreams: upstreams))?.upstreams["api"])
        #expect(upstream.kind == .targets([UpstreamTarget(host: "a", port: 1), UpstreamTarget(host: "b", port: 2)]))
        #expect(upstream.connectTimeout == .seconds(1))
        #expect(upstream.responseTimeout == .seconds(120))
        #expect(upstream.idleTimeout == .seconds(3))
        #expect(upstream.maxConnections == 4)
    }

    @Test func httpsTargetsDefaultToPort443() throws {
        let upstream = try #require(
            load(config(upstreams: "upstreams: { api: { targets: [\"https://10.0.0.1\", \"HTTPS://api.example.com:8443/\"] } }"))?
                .upstreams["api"])
        #expect(
            upstream.kind
                == .targets([
                    UpstreamTarget(host: "10.0.0.1", port: 443, scheme: .https),
                    UpstreamTarget(host: "api.example.com", port: 8443, scheme: .https),
                ]))
    }

    @Test func targetsHaveNoPath() {
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { targets: [\"http://a:1/\", \"http://a:1/v1\"] } }"),
            at: "upstreams.api.targets[1]", "\"/v1\" is not allowed")
    }

    @Test func targetsMustNotBeEmpty() {
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { targets: [] } }"), at: "upstreams.api.targets", "at least one target"
        )
    }

    @Test func targetsOrBuiltinButNotBoth() {
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { targets: [\"http://a:1\"], builtin: echo } }"),
            at: "upstreams.api", "has both targets and builtin")
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { max_connections: 3 } }"), at: "upstreams.api", "needs targets")
    }

    @Test func echoIsTheOnlyBuiltin() {
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { builtin: mirror } }"), at: "upstreams.api.builtin",
            "unknown builtin \"mirror\"")
    }

    @Test func upstreamNamesAreWordsAndDashes() {
        let routes = "routes: [{ path: /, upstream: \"my api\" }]"
        expectSingleProblem(
            config(routes: routes, upstreams: "upstreams: { \"my api\": { builtin: echo } }"),
            at: "upstreams[\"my api\"]", "is not a valid upstream name")
    }

    @Test(arguments: [
        ("connect_timeout: 0s", "upstreams.api.connect_timeout", "must be greater than 0"),
        ("response_timeout: fast", "upstreams.api.response_timeout", "expected a duration like 30s, got \"fast\""),
        ("idle_timeout: 10", "upstreams.api.idle_timeout", "add a unit"),
        ("max_connections: 0", "upstreams.api.max_connections", "must be at least 1, got 0"),
    ])
    func upstreamLimitsAreChecked(setting: String, path: String, message: String) {
        expectSingleProblem(config(upstreams: "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"], \(setting) } }"), at: path, message)
    }

    @Test func brokenUpstreamDoesNotMakeItsRoutesUnknown() {
        expectSingleProblem(
            config(upstreams: "upstreams: { api: { targets: [\"ftp://x\"] } }"), at: "upstreams.api.targets[0]",
            "expected a URL like http://127.0.0.1:9000")
    }
}
