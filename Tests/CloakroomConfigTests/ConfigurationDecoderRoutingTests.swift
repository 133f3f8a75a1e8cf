import Testing

@testable import CloakroomConfig

/// `routes[].host`, `routes[].allow`, `routes[].rewrite_prefix`, `upstreams.*.host_header` and
/// `upstreams.*.tls`, with the rules that relate them.
@Suite("Decoding hosts, allow rules, rewrites and upstream TLS")
struct ConfigurationDecoderRoutingTests {
    private let listen = "listen: [{ address: \"127.0.0.1:8080\" }]\n"

    private func config(
        routes: String, upstreams: String = "upstreams: { api: { targets: [\"http://127.0.0.1:9000\"] } }"
    ) -> String {
        listen + routes + "\n" + upstreams + "\n"
    }

    // MARK: host

    @Test func hostsAreReadLowerCasedWithoutATrailingDot() throws {
        let routes = """
            routes:
              - { host: Admin.Example.COM., path: /, upstream: api }
              - { host: "*.Example.com", path: /, upstream: api }
              - { host: "127.0.0.1", path: /, upstream: api }
              - { host: "[::1]", path: /, upstream: api }
              - { host: "[0:0:0:0:0:0:0:2]", path: /, upstream: api }
              - { path: /, upstream: api }
            """
        let configuration = try #require(load(config(routes: routes)))
        #expect(
            configuration.routes.map(\.host) == [
                .exact("admin.example.com"), .wildcard(suffix: "example.com"), .exact("127.0.0.1"), .exact("[::1]"), .exact("[::2]"), nil,
            ])
    }

    @Test(arguments: [
        ("api.example.com:8080", "without a port"),
        ("a.*.example.com", "a wildcard is a whole first label"),
        ("*example.com", "a wildcard is a whole first label"),
        ("*.", "a wildcard"),
        ("exa mple.com", "expected a host name"),
        ("a..b", "expected a host name"),
        ("[::1", "is not an IPv6 address"),
        ("::1", "write an IPv6 address in brackets, like [::1]"),
    ])
    func badHostsAreReported(host: String, message: String) {
        expectSingleProblem(
            config(routes: "routes: [{ host: \"\(host)\", path: /, upstream: api }]"), at: "routes[0].host", message)
    }

    @Test func wildcardsMatchSubdomainsAtAnyDepthButNotTheApex() {
        let wildcard = RouteHost.wildcard(suffix: "example.com")
        #expect(wildcard.matches("a.example.com"))
        #expect(wildcard.matches("a.b.example.com"))
        #expect(!wildcard.matches("example.com"))
        #expect(!wildcard.matches("badexample.com"))
        #expect(!wildcard.matches("a.example.org"))
    }

    // MARK: routes that can never match

    @Test(arguments: [
        // An earlier route with the same host and a prefix of the path.
        ("{ host: a.example.com, path: /api }", "{ host: a.example.com, path: /api/v1 }", "comes first and matches every request"),
        ("{ host: a.example.com, path: / }", "{ host: A.example.com, path: /x/ }", "comes first"),
        ("{ host: a.example.com, path: /api }", "{ host: a.example.com, path: /api }", "routes[0] has the same path and host"),
        // No host covers every host; a wildcard covers the names under it.
        ("{ path: /api/ }", "{ host: a.example.com, path: /api/x }", "any host"),
        ("{ host: \"*.example.com\", path: / }", "{ host: a.b.example.com, path: /x }", "host \"*.example.com\""),
        ("{ host: \"*.example.com\", path: / }", "{ host: \"*.b.example.com\", path: / }", "comes first"),
        // `/api/` takes the bare `/api` too (redirecting it), so a later `/api` never matches.
        ("{ path: /api/ }", "{ path: /api }", "comes first"),
    ])
    func shadowedRoutesAreErrors(first: String, second: String, message: String) {
        let routes = "routes:\n  - \(first.dropLast(2)), upstream: api }\n  - \(second.dropLast(2)), upstream: api }"
        expectSingleProblem(config(routes: routes), at: "routes[1].path", message)
    }

    /// A host already reported is no evidence of shadowing (found by an audit: one bad host
    /// made every later route "never match").
    @Test func aBadHostIsOneProblemNotACascade() {
        let routes = "routes:\n  - { host: \"y.example.com:8080\", path: /, upstream: api }\n"
            + "  - { host: example.com, path: /, upstream: api }\n  - { path: /x/, upstream: api }"
        expectSingleProblem(config(routes: routes), at: "routes[0].host", "port")
    }

    /// ... nor does it hide the problems of the routes after it (found by the audit of that fix).
    @Test func aBadHostHidesNothingAfterIt() throws {
        let routes = "routes:\n  - { host: \"bad host!\", path: /, upstream: api, auth: none }\n"
            + "  - { path: /, upstream: api, auth: required }\n  - { path: /api/, upstream: api, auth: none }\n"
            + "login: { page: /signin }\n"
        let paths = problems(in: config(routes: routes)).map(\.path).sorted()
        #expect(paths == ["login.page", "routes[0].host", "routes[2].path"], "\(paths)")
    }

    @Test(arguments: [
        ("{ host: a.example.com, path: / }", "{ host: b.example.com, path: / }"),
        ("{ host: a.example.com, path: / }", "{ path: / }"),
        ("{ host: \"*.example.com\", path: / }", "{ host: example.com, path: / }"),
        ("{ host: a.example.com, path: / }", "{ host: \"*.example.com\", path: / }"),
        ("{ path: /api }", "{ path: /apiv2 }"),
        ("{ path: /api/ }", "{ path: /apiv2 }"),
    ])
    func routesThatCanStillMatchAreFine(first: String, second: String) {
        let routes = "routes:\n  - \(first.dropLast(2)), upstream: api }\n  - \(second.dropLast(2)), upstream: api }"
        #expect(load(config(routes: routes)) != nil)
    }

    /// Request paths are normalized before routing, so a route path that is not could never
    /// match: its rules would silently fall to a later route.
    @Test(arguments: [
        ("/a//b", "// collapses"), ("/api/../x", "dot-segments"), ("/./x", "dot-segments"), ("/p%2Fq", "encoded slash"),
        ("/%7Euser", "write ~ instead of %7E"), ("/a%2fb", "encoded slash"), ("/a%7c", "upper-cased"), ("/a%zz", "broken"),
        ("/a\\b", "backslash"), ("/..;x/", "dot-segments"),
        // One spelling per character (found by an audit: `%3A` skipped the route of `:`).
        ("/a%3a", "write : instead of %3a"), ("/things%3Apurge", "write : instead of %3A"), ("/r|s/", "write %7C instead of |"),
        ("/a%00b", "encoded NUL"), ("/a;b", "parameters after ;"),
    ])
    func routePathsNoRequestCouldMatchAreErrors(path: String, message: String) {
        let routes = "routes:\n  - { path: '\(path)', upstream: api }"
        expectSingleProblem(config(routes: routes), at: "routes[0].path", message)
    }

    /// The proxy's own endpoints are matched the same way: found by a black-box audit, a
    /// `self_service: /x/../y` could never be reached (requests to it were forwarded).
    @Test(arguments: [
        ("session: { self_service: \"/x/../y\" }", "session.self_service"), ("session: { self_service: \"//x\" }", "session.self_service"),
        ("login: { path: \"/a//login\" }", "login.path"), ("logout: { path: \"/%7Eout\" }", "logout.path"),
    ])
    func endpointPathsNoRequestCouldMatchAreErrors(section: String, key: String) {
        expectSingleProblem(minimal(adding: section + "\n"), at: key, "normalized")
    }

    @Test(arguments: ["/a%20b/", "/%C3%A9t%C3%A9", "/v1.2/", "/~user", "/a%3Bb", "/v1/things:purge", "/r%7Cs/", "/a@b+c,d=e!f$g&h(i)*"])
    func normalizedRoutePathsAreFine(path: String) {
        #expect(load(config(routes: "routes:\n  - { path: '\(path)', upstream: api }")) != nil, "\(path)")
    }

    // MARK: allow

    @Test func allowRulesAreRead() throws {
        let routes = """
            routes:
              - path: /
                upstream: api
                allow:
                  - roles: [admin, ops]
                  - sub: alice
                  - { email: "*@example.com", team: blue }
            """
        let route = try #require(load(config(routes: routes))?.routes.first)
        #expect(
            route.allow == [
                AllowRule(conditions: [.init(attribute: "roles", patterns: ["admin", "ops"])]),
                AllowRule(conditions: [.init(attribute: "sub", patterns: ["alice"])]),
                AllowRule(conditions: [
                    .init(attribute: "email", patterns: ["*@example.com"]), .init(attribute: "team", patterns: ["blue"]),
                ]),
            ])
    }

    @Test func allowOnAnAuthNoneRouteIsAnError() {
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api, auth: none, allow: [{ roles: admin }] }]"),
            at: "routes[0].allow", "not allowed on an auth: none route")
    }

    @Test(arguments: [
        ("allow: []", "routes[0].allow", "at least one rule"),
        ("allow: [{}]", "routes[0].allow[0]", "at least one attribute"),
        ("allow: [{ roles: [] }]", "routes[0].allow[0].roles", "at least one value"),
        ("allow: [{ roles: { a: b } }]", "routes[0].allow[0].roles", "expected a string or a list of strings"),
        ("allow: [admin]", "routes[0].allow[0]", "expected a mapping"),
    ])
    func badAllowRulesAreReported(setting: String, path: String, message: String) {
        expectSingleProblem(config(routes: "routes: [{ path: /, upstream: api, \(setting) }]"), at: path, message)
    }

    // MARK: rewrite_prefix

    @Test func rewritePrefixIsANormalizedPath() throws {
        let route = try #require(
            load(config(routes: "routes: [{ path: /svc/, upstream: api, rewrite_prefix: /base }]"))?.routes.first)
        #expect(route.rewritePrefix == "/base")
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api, rewrite_prefix: base }]"), at: "routes[0].rewrite_prefix",
            "must start with \"/\"")
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api, rewrite_prefix: /a/../b }]"), at: "routes[0].rewrite_prefix",
            "must be a normalized path")
        #expect(load(config(routes: #"routes: [{ path: /, upstream: api, rewrite_prefix: "/caf%C3%A9/a%20b" }]"#))?.routes.first?.rewritePrefix == "/caf%C3%A9/a%20b")
    }

    /// Escapes a request path may not hold are refused in the prefix too: the upstream gets it as
    /// written, and a decoding backend would resolve them (found by an audit: `/%2e%2e/` passed).
    @Test(arguments: [
        ("/%2e%2e/", "write . instead of %2e"), ("/%2E%2E/", "write . instead of %2E"), ("/%2Fx", "encoded slash"),
        ("/x%zz", "broken %-escape"), ("/%C0%AE/", "do not decode to UTF-8"), ("/x/./y", "dot-segments"),
    ])
    func rewritePrefixRefusesWhatRequestsMayNotHold(prefix: String, message: String) {
        expectSingleProblem(
            config(routes: "routes: [{ path: /e/, upstream: api, rewrite_prefix: \"\(prefix)\" }]"), at: "routes[0].rewrite_prefix", message)
    }

    // MARK: host_header

    @Test func hostHeaderIsClientTargetOrALiteral() throws {
        func hostHeader(_ value: String) -> HostHeader? {
            load(config(routes: "routes: [{ path: /, upstream: api }]", upstreams: "upstreams: { api: { targets: [\"http://a:1\"], host_header: \"\(value)\" } }"))?
                .upstreams["api"]?.hostHeader
        }
        #expect(hostHeader("client") == .client)
        #expect(hostHeader("target") == .target)
        #expect(hostHeader("api.internal:8443") == .literal("api.internal:8443"))
        #expect(load(config(routes: "routes: [{ path: /, upstream: api }]"))?.upstreams["api"]?.hostHeader == .client)
        expectSingleProblem(
            config(routes: "routes: [{ path: /, upstream: api }]", upstreams: "upstreams: { api: { targets: [\"http://a:1\"], host_header: \"a b\" } }"),
            at: "upstreams.api.host_header", "expected client, target or a host")
    }

    @Test func targetHostHeaderLeavesOutTheDefaultPort() {
        #expect(UpstreamTarget(host: "api", port: 443, scheme: .https).hostHeaderValue == "api")
        #expect(UpstreamTarget(host: "api", port: 8443, scheme: .https).hostHeaderValue == "api:8443")
        #expect(UpstreamTarget(host: "api", port: 80).hostHeaderValue == "api")
        #expect(UpstreamTarget(host: "::1", port: 9000).hostHeaderValue == "[::1]:9000")
    }

    // MARK: tls

    private func tlsUpstream(_ tls: String, target: String = "https://api.example.com") -> String {
        config(routes: "routes: [{ path: /, upstream: api }]", upstreams: "upstreams: { api: { targets: [\"\(target)\"], tls: \(tls) } }")
    }

    @Test func tlsSettingsAreRead() throws {
        let ca = try temporaryFile(named: "upstream-ca.pem")
        let certificate = try temporaryFile(named: "client.crt")
        let key = try temporaryFile(named: "client.key")
        let tls = "{ ca: \"\(ca)\", server_name: api.internal, certificate: \"\(certificate)\", private_key: \"\(key)\" }"
        let upstream = try #require(load(tlsUpstream(tls))?.upstreams["api"])
        #expect(upstream.tls.caPath == ca)
        #expect(upstream.tls.serverName == "api.internal")
        #expect(upstream.tls.certificatePath == certificate)
        #expect(upstream.tls.privateKeyPath == key)
        #expect(upstream.tls.insecureSkipVerify == false)
        #expect(try #require(load(tlsUpstream("{ insecure_skip_verify: true }"))?.upstreams["api"]).tls.insecureSkipVerify)
    }

    @Test func tlsFilesMustBeReadable() {
        let found = problems(in: tlsUpstream("{ ca: /nonexistent/ca.pem, certificate: /nonexistent/c.pem, private_key: /nonexistent/k.pem }"))
        #expect(found.map(\.path) == ["upstreams.api.tls.ca", "upstreams.api.tls.certificate", "upstreams.api.tls.private_key"])
        #expect(found.first?.message == "file \"/nonexistent/ca.pem\" does not exist")
    }

    @Test func aCertificateNeedsItsKey() throws {
        let certificate = try temporaryFile(named: "client-only.crt")
        expectSingleProblem(
            tlsUpstream("{ certificate: \"\(certificate)\" }"), at: "upstreams.api.tls.private_key", "required with certificate")
        expectSingleProblem(
            tlsUpstream("{ private_key: \"\(certificate)\" }"), at: "upstreams.api.tls.certificate", "required with private_key")
    }

    @Test func tlsIsOnlyForHTTPSTargets() {
        expectSingleProblem(
            tlsUpstream("{ insecure_skip_verify: true }", target: "http://127.0.0.1:9000"), at: "upstreams.api.tls",
            "only for https targets")
        // Also beside the block's own problems (found by a black-box audit: it was left out).
        let found = problems(in: tlsUpstream("{ insecure_skip_verify: yes, server_name: \"\" }", target: "http://127.0.0.1:9000"))
        #expect(found.map(\.path).sorted() == ["upstreams.api.tls", "upstreams.api.tls.insecure_skip_verify", "upstreams.api.tls.server_name"], "\(found)")
    }

    @Test func serverNameIsADNSName() {
        expectSingleProblem(tlsUpstream("{ server_name: 10.0.0.1 }"), at: "upstreams.api.tls.server_name", "must be a DNS name")
        expectSingleProblem(tlsUpstream("{ server_name: \"a b\" }"), at: "upstreams.api.tls.server_name", "expected a DNS name")
        expectSingleProblem(
            tlsUpstream("{ insecure_skip_verify: maybe }"), at: "upstreams.api.tls.insecure_skip_verify", "expected true or false")
        expectSingleProblem(tlsUpstream("{ sni: x }"), at: "upstreams.api.tls.sni", "unknown key")
    }
}
