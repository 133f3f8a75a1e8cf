import CloakroomConfig
import CloakroomLogin
import CloakroomServer
import CloakroomSessions
import Foundation
import Logging
import Testing

/// Single sign-on end to end against a real OpenID Connect provider (idpyoidc, started on
/// loopback by the test): the code flow with PKCE, tokens kept server-side, refresh, and
/// back-channel logout.
@Suite(.serialized)
struct SingleSignOnTests {
    /// The provider, then the proxy on the port the provider knows as its client's, with
    /// `login.oidc` and the backend as the `api` upstream for every path.
    static func start(
        accessLifetime: Int = 3600, refreshLifetime: Int = 86400, logger: Logger? = nil, accessLog: Logger? = nil,
        _ adjust: @escaping (inout Configuration) -> Void = { _ in }
    ) async throws -> (ProxyHarness, IdentityProviderProcess) {
        let port = try freePort()
        let base = "http://127.0.0.1:\(port)"
        let idp = try await IdentityProviderProcess.start(proxyBases: [base], accessLifetime: accessLifetime, refreshLifetime: refreshLifetime)
        do {
            let proxy = try await ProxyHarness.start(logger: logger, accessLog: accessLog) { configuration in
                configuration.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: port))]
                var oidc = OIDCSettings(
                    issuer: idp.issuer, clientID: IdentityProviderProcess.clientID, clientSecret: IdentityProviderProcess.clientSecret,
                    redirectURL: base + "/oauth2/callback")
                oidc.scopes = ["openid", "email", "profile", "offline_access"]
                configuration.login.oidc = oidc
                configuration.routes = [
                    Route(path: "/public/", upstream: "api", auth: .none),
                    Route(path: "/", upstream: "api", auth: .required),
                ]
                adjust(&configuration)
            }
            return (proxy, idp)
        } catch {
            idp.stop()
            throw error
        }
    }

    /// A browser without a session: required page → 303 login → 303 provider → its login page
    /// → signed in → back at the page with a session cookie.
    static func signIn(_ browser: CookieJarBrowser, proxy: ProxyHarness, user: String = "diana", password: String = "krall") async throws -> ClientResponse {
        let first = try await browser.get("\(proxy.base)/reports?period=week")
        #expect(first.status == 303)
        #expect(first.header("location") == "/login?next=/reports%3Fperiod%3Dweek")
        let (page, pageURL) = try await browser.follow(first, from: "\(proxy.base)/reports?period=week")
        #expect(page.status == 200, "\(page.body.prefix(300))")
        let (final, finalURL) = try await browser.signInAtProvider(page, url: pageURL, user: user, password: password)
        #expect(finalURL == "\(proxy.base)/reports?period=week", "back where the browser started")
        return final
    }

    @Test func codeFlowWithPKCEThroughTheRealProvider() async throws {
        let (logger, lines) = CapturingLogHandler.logger()
        let (accessLog, accessLines) = CapturingLogHandler.logger()
        let (proxy, idp) = try await Self.start(logger: logger, accessLog: accessLog)
        defer { idp.stop(); Task { await proxy.stop() } }

        // The start of the flow: PKCE S256, state, nonce, and a pending-login cookie the
        // browser can neither read nor forge.
        let start = try await Curl.get("\(proxy.base)/login?next=/reports", ["-H", "Accept: text/html"])
        #expect(start.status == 303)
        let location = try #require(start.header("location"))
        #expect(location.hasPrefix(idp.issuer + "/authorization?"))
        for part in ["response_type=code", "code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "client_id=cloakroom"] {
            #expect(location.contains(part), "\(part) in \(location)")
        }
        let pending = try #require(start.header("set-cookie"))
        #expect(pending.hasPrefix("cloakroom_session_oidc_") && pending.contains("HttpOnly") && pending.contains("SameSite=Lax"))
        #expect(pending.contains("Path=/;"), "on the session cookie's path, so a login's start sees the slots held: \(pending)")

        let browser = CookieJarBrowser()
        let final = try await Self.signIn(browser, proxy: proxy)
        #expect(final.status == 200)
        let seen = try #require(proxy.backend.requests.last)
        #expect(seen.uri == "/reports?period=week")
        #expect(seen.values("x-user-id") == ["diana"], "the backend sees the provider's identity")
        #expect(seen.values("x-user-email") == ["diana@example.org"])
        #expect(seen.values("authorization").isEmpty, "no token upstream without pass_access_token")

        // The session record: the mapped claims as attributes, no token among them.
        let sessions = try await proxy.server.store.sessions(subject: "diana")
        #expect(sessions.count == 1)
        let attributes = try #require(sessions.first?.attributes)
        #expect(Set(attributes.keys) == ["sub", "email", "name"])
        #expect(attributes["name"] == .string("Diana Krall"))

        // The same callback again (a replayed state) is refused, and no session is made.
        let cookie = try #require(browser.cookie(named: "cloakroom_session"))
        let replay = try await Curl.get("\(proxy.base)/oauth2/callback?state=x&code=y", ["-H", "Accept: application/json"])
        #expect(replay.status == 401)
        #expect(replay.body == "{\"error\":\"login_failed\"}")
        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(cookie)"]).status == 200)
        #expect(try await proxy.server.store.sessions(subject: "diana").count == 1)

        // The admin API lists the session without a token; no log line holds a token or a code.
        let listed = try await proxy.server.store.sessions(subject: "diana")
        #expect(!"\(listed)".contains("eyJ"))
        let everything = lines.all + accessLines.all
        #expect(everything.contains { $0.contains("session created") && $0.contains("via=oidc") })
        #expect(accessLines.all.contains { $0.contains("/oauth2/callback") }, "the callback is in the access log")
        #expect(!everything.contains { $0.contains("eyJ") || $0.contains("code=") || $0.contains("state=") }, "\(everything.filter { $0.contains("eyJ") || $0.contains("code=") })")
    }

    @Test func aLoginThroughTheProviderReplacesThePresentedSession() async throws {
        let (proxy, idp) = try await Self.start()
        defer { idp.stop(); Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        _ = try await Self.signIn(browser, proxy: proxy)
        let first = try #require(browser.cookie(named: "cloakroom_session"))
        // Signing in again (the provider remembers the user: straight back) ends the old session.
        let again = try await browser.get("\(proxy.base)/login?next=/")
        let (_, url) = try await browser.follow(again, from: "\(proxy.base)/login?next=/")
        let second = try #require(browser.cookie(named: "cloakroom_session"))
        #expect(url == "\(proxy.base)/")
        #expect(first != second, "a new session ID")
        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(first)"]).status == 401)
        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(second)"]).status == 200)
    }

    @Test func browserLogoutEndsTheLocalSessionThenGoesToTheProvider() async throws {
        let (proxy, idp) = try await Self.start { $0.logout.redirect = "/signed-out" }
        defer { idp.stop(); Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        _ = try await Self.signIn(browser, proxy: proxy)
        let cookie = try #require(browser.cookie(named: "cloakroom_session"))
        let logout = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(cookie)", "-H", "Accept: text/html"])
        #expect(logout.status == 303)
        let location = try #require(logout.header("location"))
        #expect(location.hasPrefix(idp.issuer + "/session?id_token_hint=ey"), "\(location)")
        #expect(location.contains("&client_id=cloakroom&"))
        #expect(location.hasSuffix("post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A\(proxy.port)%2Fsigned-out"), "\(location)")
        #expect(logout.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(cookie)"]).status == 401, "the local session ended first")
        // An API client's logout is 204, as without single sign-on.
        let other = CookieJarBrowser()
        _ = try await Self.signIn(other, proxy: proxy)
        let again = try #require(other.cookie(named: "cloakroom_session"))
        #expect(try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(again)"]).status == 204)
    }

    @Test func withAUsersFileTooTheLoginPageOffersTheProvider() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-users-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let users = directory.appendingPathComponent("users.yaml").path
        try UsersFile.upsert(path: users, name: "demo", password: "correct horse battery", email: nil, roles: [])
        let (proxy, idp) = try await Self.start {
            $0.login.usersFile = users
            $0.login.oidc?.name = "Acme SSO"
        }
        defer { idp.stop(); Task { await proxy.stop() } }
        let redirect = try await Curl.get("\(proxy.base)/reports", ["-H", "Accept: text/html"])
        #expect(redirect.header("location") == "/login?next=/reports")
        let page = try await Curl.get("\(proxy.base)/login?next=/reports")
        #expect(page.status == 200 && page.body.contains("name=\"password\""), "the form is there")
        #expect(page.body.contains(#"<a id="sign-in-sso" href="/login?sso=1&amp;next=/reports">Sign in with Acme SSO</a>"#), "\(page.body)")
        let sso = try await Curl.get("\(proxy.base)/login?sso=1&next=/reports")
        #expect(sso.status == 303 && sso.header("location")?.hasPrefix(idp.issuer + "/authorization?") == true)
        let form = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=correct+horse+battery"])
        #expect(form.status == 303, "the form login still works")
    }

    @Test func backChannelLogoutEndsOnlyThatProviderSessionAndItsTunnels() async throws {
        let (proxy, idp) = try await Self.start()
        defer { idp.stop(); Task { await proxy.stop() } }
        // One user, two browsers: two provider sessions, two proxy sessions.
        let laptop = CookieJarBrowser(), phone = CookieJarBrowser()
        _ = try await Self.signIn(laptop, proxy: proxy)
        _ = try await Self.signIn(phone, proxy: proxy)
        let laptopCookie = try #require(laptop.cookie(named: "cloakroom_session"))
        let phoneCookie = try #require(phone.cookie(named: "cloakroom_session"))
        #expect(try await proxy.server.store.sessions(subject: "diana").count == 2)

        let socket = try await offPool { try WebSocketClient(port: proxy.port, path: "/ws", headers: ["Cookie: \(laptopCookie)"]) }
        #expect(socket.status == 101)

        // The user signs out at the provider on the laptop: it calls the back-channel endpoint.
        let out = try await laptop.logOutAtProvider(issuer: idp.issuer)
        #expect((200..<400).contains(out.status), "\(out.status) \(out.body.prefix(200))")

        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(laptopCookie)"]).status == 401, "refused without doing anything at Cloakroom")
        #expect(try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(phoneCookie)"]).status == 200, "the other provider session lives on")
        let frames = try await offPool { try socket.framesUntilClosed(timeout: 5) }
        #expect(frames.last?.closeCode == 1008, "the tunnel is cut: \(frames)")
    }

    @Test func invalidBackChannelLogoutTokensAre400() async throws {
        let (proxy, idp) = try await Self.start()
        defer { idp.stop(); Task { await proxy.stop() } }
        let url = "\(proxy.base)/oauth2/backchannel-logout"
        let unsigned = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."
        for body in ["logout_token=not-a-jwt", "logout_token=\(unsigned)", "nothing=here"] {
            let answer = try await Curl.get(url, ["--data", body])
            #expect(answer.status == 400, "\(body): \(answer.status) \(answer.body)")
        }
        #expect(try await Curl.get(url).status == 405, "GET is not a logout")
    }

    @Test func passAccessTokenRefreshesOnceForConcurrentRequests() async throws {
        let (logger, lines) = CapturingLogHandler.logger()
        let (proxy, idp) = try await Self.start(accessLifetime: 3, logger: logger) { $0.login.oidc?.passAccessToken = true }
        defer { idp.stop(); Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        _ = try await Self.signIn(browser, proxy: proxy)
        let cookie = try #require(browser.cookie(named: "cloakroom_session"))
        let firstToken = try #require(proxy.backend.requests.last?.value("authorization"))
        #expect(firstToken.hasPrefix("Bearer "))
        // The store holds the tokens sealed, not in clear (found by an audit, in Redis).
        let codec = SessionCookieCodec(secrets: proxy.server.configuration.session.secrets.map { Array($0.utf8) })
        let id = try #require(codec.decode(String(cookie.dropFirst("cloakroom_session=".count))))
        let privatePart = try #require(try await (proxy.server.store as? any ProviderSessionStore)?.secrets(key: id.key))
        #expect(privatePart.keys.sorted() == ["sealed"])
        #expect(!JSONValue.object(privatePart).jsonText.contains(firstToken.dropFirst("Bearer ".count)))

        // The client's own Authorization never reaches the backend.
        _ = try await Curl.get("\(proxy.base)/api/a", ["-H", "Cookie: \(cookie)", "-H", "Authorization: Bearer forged"])
        #expect(proxy.backend.requests.last?.values("authorization") == [firstToken])

        // Once the token is due, eight concurrent requests share one refresh: four on HTTP/1.1
        // connections of their own, four as streams of one HTTP/2 connection.
        let h2 = try await HTTP2TestClient.connect(port: proxy.port, tls: false)
        defer { Task { await h2.close() } }
        try await Task.sleep(for: .seconds(3))
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<4 {
                group.addTask { try await Curl.get("\(proxy.base)/api/h1/\(index)", ["-H", "Cookie: \(cookie)"]).status }
                group.addTask {
                    let request = HTTP2TestClient.Request(path: "/api/h2/\(index)", authority: "127.0.0.1", headers: [("cookie", cookie)])
                    return try await h2.send(request).status ?? 0
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 8))
        let refreshes = lines.all.filter { $0.contains("access token refreshed") }
        #expect(refreshes.count == 1, "\(refreshes)")
        let tokens = Set(proxy.backend.requests.suffix(8).compactMap { $0.value("authorization") })
        #expect(tokens.count == 1 && !tokens.contains(firstToken), "all eight carried the one new token")
    }

    @Test func aRefreshTheProviderRefusesEndsTheSession() async throws {
        let (proxy, idp) = try await Self.start(accessLifetime: 2) { $0.login.oidc?.passAccessToken = true }
        defer { idp.stop(); Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        _ = try await Self.signIn(browser, proxy: proxy)
        let cookie = try #require(browser.cookie(named: "cloakroom_session"))
        // The provider's administrator revokes the user's grants: the next refresh is refused.
        let revoked = try await Curl.get(idp.issuer + "/admin/revoke", ["--data", "user=diana"])
        #expect(revoked.body == "{\"revoked\": 1}", "\(revoked.body)")
        try await Task.sleep(for: .seconds(2))  // the access token has expired
        let api = try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"])
        #expect(api.status == 401, "\(api.status) \(api.body)")
        #expect(api.header("set-cookie")?.contains("Max-Age=0") == true, "the cookie is expired")
        #expect(api.headers("set-cookie").count == 1, "once (audit: it came twice)")
        #expect(try await proxy.server.store.sessions(subject: "diana").isEmpty, "the session ended (refresh_failed)")
        let browserAfter = try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)", "-H", "Accept: text/html"])
        #expect(browserAfter.status == 303, "a browser goes to the login page")
    }

    /// Without `offline_access` the provider gives no refresh token: once the access token
    /// expired the session ends, instead of forwarding a dead token until the absolute timeout
    /// (found by an audit).
    @Test func anExpiredAccessTokenWithoutARefreshTokenEndsTheSession() async throws {
        let (proxy, idp) = try await Self.start(accessLifetime: 2) {
            $0.login.oidc?.passAccessToken = true
            $0.login.oidc?.scopes = ["openid", "email", "profile"]
        }
        defer { idp.stop(); Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        _ = try await Self.signIn(browser, proxy: proxy)
        let cookie = try #require(browser.cookie(named: "cloakroom_session"))
        #expect(try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"]).status == 200, "the token is still valid")
        try await Task.sleep(for: .seconds(2.5))
        let api = try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"])
        #expect(api.status == 401, "\(api.status) \(api.body)")
        #expect(try await proxy.server.store.sessions(subject: "diana").isEmpty, "the session ended (refresh_failed)")
    }

    @Test func anUnreachableProviderIs502AndTheProxyStartsWithoutIt() async throws {
        let port = try freePort()
        let deadProvider = try freePort()
        let proxy = try await ProxyHarness.start { configuration in
            configuration.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: port))]
            configuration.login.oidc = OIDCSettings(
                issuer: "http://127.0.0.1:\(deadProvider)", clientID: "cloakroom", clientSecret: "s",
                redirectURL: "http://127.0.0.1:\(port)/oauth2/callback")
        }
        defer { Task { await proxy.stop() } }
        let login = try await Curl.get("\(proxy.base)/login")
        #expect(login.status == 502)
        #expect(login.body == "{\"error\":\"identity_provider_unavailable\"}")
        let page = try await Curl.get("\(proxy.base)/login", ["-H", "Accept: text/html"])
        #expect(page.status == 502, "a browser gets the same status, with a page")
        #expect(page.header("content-type") == "text/html; charset=utf-8")
        #expect(page.body.contains("Sign-in unavailable") && page.body.contains(#"href="/login""#))
        #expect(page.header("x-request-id").map { page.body.contains($0) } == true)
        #expect(try await Curl.get("\(proxy.base)/anything", ["-H", "Accept: text/html"]).header("location") == "/login?next=/anything")
        #expect(try await Curl.get("\(proxy.base)/anything").status == 401, "API clients still get 401")
    }

    /// A real browser: a required page → the provider's login page → back signed in, the
    /// backend sees the identity → logout → the provider's end-session page.
    @Test func headlessChromiumSignsInThroughTheProviderAndOut() async throws {
        let (proxy, idp) = try await Self.start()
        defer { idp.stop(); Task { await proxy.stop() } }
        try await WebDriver.with { browser in
            let screenshots = ProcessInfo.processInfo.environment["CLOAKROOM_SCREENSHOTS"]
            try await browser.open("\(proxy.base)/reports")
            #expect(try await browser.currentURL().hasPrefix(idp.issuer + "/authorization"), "at the provider's login page")
            if let screenshots { try await browser.screenshot().write(to: URL(fileURLWithPath: "\(screenshots)/oidc-provider-login.png")) }
            try await browser.type("diana", into: "input[name=username]")
            try await browser.type("krall", into: "input[name=password]")
            try await browser.click("#submit")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await browser.currentURL() == "\(proxy.base)/reports", "back where the browser started")
            let seen = try #require(proxy.backend.requests.last)
            #expect(seen.values("x-user-id") == ["diana"])
            #expect(seen.values("x-user-email") == ["diana@example.org"])

            try await browser.open("\(proxy.base)/logout")
            try await Task.sleep(for: .milliseconds(300))
            let url = try await browser.currentURL()
            #expect(url.hasPrefix(idp.issuer + "/verify_logout"), "the provider's end-session page: \(url)")
            #expect(try await browser.bodyText().contains("sign out"))
            if let screenshots { try await browser.screenshot().write(to: URL(fileURLWithPath: "\(screenshots)/oidc-provider-logout.png")) }
            #expect(try await proxy.server.store.sessions(subject: "diana").isEmpty, "the local session ended first")
        }
    }
}

/// The refusal paths, against a provider that spoils its ID tokens on purpose: each gets 401
/// `login_failed` and no session.
@Suite(.serialized)
struct SingleSignOnRefusalTests {
    /// A proxy on a port of its own (the provider redirects back to it) signing in at `idp`.
    static func start(signingInAt idp: IdentityProviderProcess, logger: Logger? = nil) async throws -> ProxyHarness {
        let port = try freePort()
        return try await ProxyHarness.start(logger: logger) { configuration in
            configuration.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: port))]
            configuration.login.oidc = OIDCSettings(
                issuer: idp.issuer, clientID: "cloakroom", clientSecret: "s", redirectURL: "http://127.0.0.1:\(port)/oauth2/callback")
        }
    }

    /// The log is the product's text log (``TerminalSafeLogHandler``): a provider's `error`
    /// with CR LF in it, which any client can put in a callback, writes no line of its own.
    @Test(arguments: [
        "bad-signature", "wrong-aud", "wrong-nonce", "alg-none", "hs256", "expired", "future-iat", "wrong-iss", "error",
        "error-forged", "control-sub",
    ])
    func aSpoiledLoginIsRefused(_ mode: String) async throws {
        let idp = try await IdentityProviderProcess.stub(mode: mode)
        defer { idp.stop() }
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "capture") { _ in TerminalSafeLogHandler(CapturingLogHandler(captured: lines)) }
        let proxy = try await Self.start(signingInAt: idp, logger: logger)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        let start = try await browser.get("\(proxy.base)/login?next=/x")
        let (final, _) = try await browser.follow(start, from: "\(proxy.base)/login?next=/x")
        #expect(final.status == 401, "\(mode): \(final.status)")
        #expect(final.body.contains("Sign-in failed"), "a page for browsers")
        #expect(browser.cookie(named: "cloakroom_session") == nil)
        #expect(try await proxy.server.store.sessions(subject: "mallory").isEmpty)
        #expect(lines.all.contains { $0.contains("single sign-on refused") }, "the reason is logged")
        #expect(!lines.all.contains { $0.contains("eyJ") }, "no token in the log")
        #expect(!lines.all.contains { $0.contains("\n") || $0.contains("\r") }, "no line break from outside")
        #expect(!lines.all.contains { $0.contains("session_store") || $0.contains("store failed") }, "a refusal, not a store failure")
    }

    /// A pending login per login (found by an audit: one per browser). Logins started in six
    /// tabs all complete (found by an audit: a callback expired the others past four), each
    /// callback expiring its own cookie alone; a callback with a state the browser did not start
    /// (forged, as a cross-site link can send) neither reads nor clears the browser's pending
    /// logins.
    @Test func loginsInSixTabsAllCompleteAndAForgedCallbackAbortsNone() async throws {
        let idp = try await IdentityProviderProcess.stub(mode: "good")
        defer { idp.stop() }
        let proxy = try await Self.start(signingInAt: idp)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        var tabs: [ClientResponse] = []
        for tab in 1...6 { tabs.append(try await browser.get("\(proxy.base)/login?next=/tab\(tab)")) }
        let names = tabs.compactMap { $0.header("set-cookie")?.split(separator: "=").first.map(String.init) }
        #expect(names.count == 6 && Set(names).count == 6 && names.allSatisfy { $0.hasPrefix("cloakroom_session_oidc_") }, "\(names)")

        let forged = try await browser.get("\(proxy.base)/oauth2/callback?state=forgedforgedforgedforged&code=x")
        #expect(forged.status == 401)
        #expect(forged.header("set-cookie") == nil, "nothing of the browser's is cleared")

        for (index, tab) in tabs.enumerated() {
            let (final, url) = try await browser.follow(tab, from: "\(proxy.base)/login?next=/tab\(index + 1)")
            #expect(url == "\(proxy.base)/tab\(index + 1)" && final.status == 200, "tab \(index + 1): \(url) \(final.status)")
            #expect(names[(index + 1)...].allSatisfy { browser.cookie(named: $0) != nil }, "the other tabs' logins are left in place")
        }
        #expect(names.allSatisfy { browser.cookie(named: $0) == nil }, "each callback expired its own cookie")
        #expect(try await proxy.server.store.sessions(subject: "mallory").count == 1, "each login replaced the previous one's session")
    }

    /// The control cases: correct tokens with each accepted algorithm sign in.
    @Test(arguments: ["good", "es256", "ps256", "eddsa"])
    func acceptedAlgorithmsSignIn(_ mode: String) async throws {
        let idp = try await IdentityProviderProcess.stub(mode: mode)
        defer { idp.stop() }
        let proxy = try await Self.start(signingInAt: idp)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        let start = try await browser.get("\(proxy.base)/login?next=/x")
        let (final, url) = try await browser.follow(start, from: "\(proxy.base)/login?next=/x")
        #expect(url == "\(proxy.base)/x" && final.status == 200, "\(mode): \(url) \(final.status)")
        #expect(try await proxy.server.store.sessions(subject: "mallory").count == 1)
    }
}

/// Two `cloakroom` binaries sharing one Redis: a back-channel logout received by one ends the
/// session for both, and a WebSocket held by the other closes.
@Suite(.serialized)
struct SingleSignOnRedisTests {
    @Test func backChannelLogoutHoldsOnEveryInstance() async throws {
        try await RedisServerProcess.with { redis in
            try await IdentityProviderProcess.withTwoInstances(on: redis) { idp, a, b in
                let laptop = CookieJarBrowser(), phone = CookieJarBrowser()
                for browser in [laptop, phone] {
                    let first = try await browser.get("\(a.base)/login?next=/app")
                    let (page, url) = try await browser.follow(first, from: "\(a.base)/login?next=/app")
                    _ = try await browser.signInAtProvider(page, url: url, user: "babs", password: "howes")
                }
                let laptopCookie = try #require(laptop.cookie(named: "cloakroom_session"))
                let phoneCookie = try #require(phone.cookie(named: "cloakroom_session"))
                #expect(try await b.status(laptopCookie) == 200, "a session made on A is good on B")
                #expect(b.backend.requests.last?.values("x-user-id") == ["babs"])

                let socket = try await offPool { try WebSocketClient(port: b.port, path: "/ws", headers: ["Cookie: \(laptopCookie)"]) }
                #expect(socket.status == 101)

                _ = try await laptop.logOutAtProvider(issuer: idp.issuer)  // back-channel to A
                let (frames, seconds) = try await WebSocketTests.awaitClose(socket)
                #expect(seconds < WebSocketTests.promptly, "closed \(seconds)s after the back-channel logout")
                #expect(frames.last?.closeCode == 1008, "B's tunnel closed: \(frames)")
                #expect(try await b.status(laptopCookie) == 401, "B refuses it too")
                #expect(try await a.status(laptopCookie) == 401)
                #expect(try await b.status(phoneCookie) == 200, "the other provider session lives on")
                let metrics = try await Curl.get("\(a.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"])
                #expect(try PrometheusText.parse(metrics.body)["cloakroom_sessions_ended_total{reason=\"idp\"}"] == 1)
            }
        }
    }
}

import CloakroomStoreConformance
