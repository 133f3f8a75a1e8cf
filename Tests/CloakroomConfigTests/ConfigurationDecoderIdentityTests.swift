import Testing

@testable import CloakroomConfig

/// `identity`, `login` and `logout`.
@Suite("Decoding identity, login and logout")
struct ConfigurationDecoderIdentityTests {
    @Test func headersKeepFileOrder() throws {
        let yaml = minimal(adding: "identity:\n  headers:\n    X-Z: z\n    X-A: a\n    X-M: m\n")
        let identity = try #require(load(yaml)).identity
        #expect(
            identity.headers == [
                HeaderMapping(header: "X-Z", attribute: "z"), HeaderMapping(header: "X-A", attribute: "a"),
                HeaderMapping(header: "X-M", attribute: "m"),
            ])
        #expect(identity.strip == ["X-User-*"])
    }

    @Test func explicitlyEmptyMeansNone() throws {
        let identity = try #require(load(minimal(adding: "identity: { headers: {}, strip: [] }\n"))).identity
        #expect(identity.headers.isEmpty)
        #expect(identity.strip.isEmpty)
    }

    @Test func headerNamesMustBeTokens() {
        expectSingleProblem(
            minimal(adding: "identity: { headers: { \"X User\": sub } }\n"),
            at: "identity.headers[\"X User\"]", "\"X User\" is not a valid header name", exact: true)
    }

    @Test func duplicateHeadersDifferingOnlyInCase() {
        expectSingleProblem(
            minimal(adding: "identity:\n  headers:\n    X-User-Id: sub\n    x-user-id: id\n"),
            at: "identity.headers.x-user-id", "duplicate of \"X-User-Id\"")
    }

    @Test func framingHeadersCannotCarryIdentity() {
        expectSingleProblem(
            minimal(adding: "identity: { headers: { Content-Length: sub } }\n"),
            at: "identity.headers.Content-Length", "message framing")
        expectSingleProblem(
            minimal(adding: "identity: { headers: { Transfer_Encoding: sub } }\n"),
            at: "identity.headers.Transfer_Encoding", "message framing")
    }

    /// Found by an audit: the backend got `X-Forwarded-For: alice` before the proxy's own.
    @Test(arguments: ["X-Forwarded-For", "x_forwarded_proto", "X-Request-Id", "Traceparent", "Forwarded", "Cookie"])
    func headersTheProxySetsCannotCarryIdentity(_ header: String) {
        expectSingleProblem(
            minimal(adding: "identity: { headers: { \(header): sub } }\n"),
            at: "identity.headers.\(header)", "the proxy sets or removes it on every forwarded request")
    }

    @Test func duplicateHeadersDifferingOnlyInSeparators() {
        expectSingleProblem(
            minimal(adding: "identity:\n  headers:\n    X-User-Id: sub\n    X_User.Id: roles\n"),
            at: "identity.headers[\"X_User.Id\"]", "duplicate of \"X-User-Id\"")
    }

    @Test func attributesAreNonEmptyStrings() {
        expectSingleProblem(
            minimal(adding: "identity: { headers: { X-Id: \"\" } }\n"), at: "identity.headers.X-Id", "must not be empty"
        )
        expectSingleProblem(
            minimal(adding: "identity: { headers: { X-Id: [sub] } }\n"), at: "identity.headers.X-Id",
            "expected a string, got a list", exact: true)
    }

    @Test func stripPatternsAreTokensWithWildcards() {
        expectSingleProblem(
            minimal(adding: "identity: { strip: [\"X-Ok-*\", \"X Bad*\"] }\n"), at: "identity.strip[1]",
            "is not a header name pattern")
    }

    @Test func loginAndLogoutReadEveryKey() throws {
        let yaml = minimal(
            adding: """
                login: { path: /signin, users_file: /etc/cloakroom/users.json, page: /signin }
                logout: { path: /signout, redirect: "https://example.com/bye" }

                """)
        let configuration = try #require(load(yaml, files: FakeFileSystem(["/etc/cloakroom/users.json": FakeFileSystem.file])))
        #expect(configuration.login.path == "/signin")
        #expect(configuration.login.usersFile == "/etc/cloakroom/users.json")
        #expect(configuration.login.page == "/signin")
        #expect(configuration.logout.path == "/signout")
        #expect(configuration.logout.redirect == "https://example.com/bye")
    }

    @Test func nullLoginValuesStayNil() throws {
        let login = try #require(load(minimal(adding: "login: { users_file: null, page: ~ }\n"))).login
        #expect(login.usersFile == nil)
        #expect(login.page == nil)
    }

    @Test(arguments: [("login", "path"), ("logout", "path")])
    func endpointPathsStartWithSlash(section: String, key: String) {
        expectSingleProblem(
            minimal(adding: "\(section): { \(key): signin }\n"), at: "\(section).\(key)", "must start with \"/\"")
    }

    @Test func loginAndLogoutPathsDiffer() {
        expectSingleProblem(
            minimal(adding: "login: { path: /auth }\nlogout: { path: /auth }\n"), at: "logout.path",
            "must differ from login.path", exact: true)
    }

    @Test(arguments: [
        ("javascript:alert(1)", "expected a path starting \"/\" or an absolute http(s) URL"),
        ("signin", "expected a path starting \"/\" or an absolute http(s) URL"),
        ("ftp://example.com/", "expected a path starting \"/\" or an absolute http(s) URL"),
        ("//evil.example/", "is read by browsers as another host"),
    ])
    func loginPageIsAPathOrHTTPURL(page: String, message: String) {
        expectSingleProblem(minimal(adding: "login: { page: \"\(page)\" }\n"), at: "login.page", message)
    }

    /// Found by an audit: a page behind `auth: required` sent browsers to itself forever.
    @Test func aLoginPageOnARequiredRouteIsAnError() {
        expectSingleProblem(
            minimal(adding: "login: { page: \"/signin?x=1\" }\n"), at: "login.page", "routes[0] requires a session for this page")
        let open = minimalYAML.replacingOccurrences(of: "routes:\n", with: "routes:\n  - { path: /signin, upstream: api, auth: none }\n")
        #expect(load(open + "login: { page: /signin }\n") != nil, "a route of its own that needs no session")
        #expect(load(minimal(adding: "login: { page: /login }\n")) != nil, "login.path is the proxy's")
        #expect(load(minimal(adding: "login: { page: \"https://sso.example.com/\" }\n")) != nil, "another site")
    }

    /// Found by an audit: a page no route serves sent every signed-out browser to a 404.
    @Test func aLoginPageNoRouteServesIsAnError() {
        let apiOnly = minimalYAML.replacingOccurrences(of: "  - path: /\n", with: "  - path: /api/\n")
        let found = problems(in: apiOnly + "login: { page: /signin }\n")
        #expect(found.map(\.path) == ["login.page"], "\(found)")
        #expect(found.first?.message.hasPrefix("no route serves /signin") == true, "\(found)")
        let hosted = apiOnly.replacingOccurrences(
            of: "routes:\n", with: "routes:\n  - { host: login.example.com, path: /signin, upstream: api, auth: none }\n")
        #expect(load(hosted + "login: { page: /signin }\n") != nil, "a route for some host serves it there")
    }

    @Test func logoutRedirectCannotBeNull() {
        expectSingleProblem(minimal(adding: "logout: { redirect: null }\n"), at: "logout.redirect", "got null")
    }

    @Test func usersFileCannotBeEmpty() {
        expectSingleProblem(
            minimal(adding: "login: { users_file: \"\" }\n"), at: "login.users_file", "must not be empty")
    }
}
