import Foundation
import Testing

/// End to end: the real proxy on port 0, a real backend socket, curl as the client.
@Suite(.serialized) struct SessionFlowTests {
    @Test func loginThenIdentityArrivesUpstreamAndClientCopiesNever() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let login = try await Curl.get("\(proxy.base)/login?sub=alice")
        #expect(login.status == 200)
        let setCookie = try #require(login.header("set-cookie"))
        #expect(setCookie.hasPrefix("cloakroom_session="))
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Lax"))
        #expect(!setCookie.contains("Secure"))
        #expect(login.header("session-login") == nil, "control header must never reach the client")
        let cookie = String(setCookie.split(separator: ";")[0])

        let response = try await Curl.get(
            "\(proxy.base)/api/items",
            ["-H", "Cookie: theme=dark; \(cookie); lang=en", "-H", "X-User-Id: mallory", "-H", "x-user-id: mallory2",
             "-H", "X_User_Id: mallory3", "-H", "X-User-Email: evil@example.com", "-H", "X-User-Admin: yes"])
        #expect(response.status == 200)
        let seen = try #require(proxy.backend.requests.last)
        #expect(seen.uri == "/api/items")
        #expect(seen.values("X-User-Id") == ["alice"])
        #expect(seen.values("X_User_Id").isEmpty)
        #expect(seen.values("X-User-Email") == ["alice@example.com"])
        #expect(seen.values("X-User-Roles") == ["reader, writer"])
        #expect(seen.values("X-User-Admin").isEmpty)
        #expect(seen.value("Cookie") == "theme=dark; lang=en", "the proxy's own cookie never goes upstream")
        #expect(seen.value("X-Forwarded-For") == "127.0.0.1")
        #expect(seen.value("X-Forwarded-Proto") == "http")
        #expect(seen.value("X-Forwarded-Host") == "127.0.0.1:\(proxy.port)")
        #expect(seen.value("X-Request-Id") == response.header("X-Request-Id"))
    }

    @Test func requiredRouteWithoutSessionIs401JSONAndNothingForwarded() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let forged = "cloakroom_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        for arguments in [[], ["-H", "Cookie: \(forged)"], ["-H", "X-User-Id: alice"]] {
            let response = try await Curl.get("\(proxy.base)/api/items", arguments)
            #expect(response.status == 401)
            #expect(response.body == "{\"error\":\"unauthenticated\"}")
            #expect(response.header("content-type") == "application/json")
            #expect(response.header("x-request-id") != nil)
        }
        #expect(proxy.backend.requests.isEmpty)
    }

    @Test func publicAndOptionalRoutesForwardWithoutSessionButStillStrip() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let response = try await Curl.get("\(proxy.base)/public/x", ["-H", "X-User-Id: mallory"])
        #expect(response.status == 200)
        #expect(proxy.backend.requests.last?.values("X-User-Id") == [])
        let cookie = try await proxy.login("bob")
        _ = try await Curl.get("\(proxy.base)/optional/y", ["-H", "Cookie: \(cookie)"])
        #expect(proxy.backend.requests.last?.values("X-User-Id") == ["bob"])
    }

    @Test func sessionUpdateIsVisibleOnTheNextRequestAndSubCannotChange() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("carol")
        let update = try await Curl.get("\(proxy.base)/update", ["-H", "Cookie: \(cookie)"])
        #expect(update.status == 200)
        #expect(update.header("session-update") == nil)
        _ = try await Curl.get("\(proxy.base)/update-sub", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/api/next", ["-H", "Cookie: \(cookie)"])
        let seen = try #require(proxy.backend.requests.last)
        #expect(seen.values("X-User-Id") == ["carol"])
        #expect(seen.values("X-User-Email") == ["new@example.com"])
        #expect(seen.values("X-User-Roles") == [], "a null in the merge patch removes the attribute")
    }

    /// Several `Session-Update` fields in one response: each a merge patch of its own, in the
    /// order received; one that is not JSON, or changes `sub`, is ignored alone. Found by a
    /// black-box audit: the fields were read joined with a comma, no JSON, and all dropped.
    @Test func eachSessionUpdateFieldIsAppliedInOrder() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("carol")
        for path in ["/update-each", "/api/update-each"] {
            _ = try await Curl.get("\(proxy.base)/update", ["-H", "Cookie: \(cookie)"])
            let update = try await Curl.get("\(proxy.base)\(path)", ["-H", "Cookie: \(cookie)"])
            #expect(update.status == 200, "\(path)")
            #expect(update.headers("session-update") == [], "\(path)")
            _ = try await Curl.get("\(proxy.base)/api/next", ["-H", "Cookie: \(cookie)"])
            let seen = try #require(proxy.backend.requests.last)
            #expect(seen.values("X-User-Id") == ["carol"], "\(path): sub unchanged")
            #expect(seen.values("X-User-Email") == ["last@example.com"], "\(path): the last patch applied last")
            #expect(seen.values("X-User-Roles") == ["one"], "\(path): the first applied, the one changing sub refused whole")
        }
    }

    @Test func sessionLogoutAllEndsEverySessionOfTheUserOnly() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let first = try await proxy.login("dave")
        let second = try await proxy.login("dave")
        let other = try await proxy.login("erin")
        let logout = try await Curl.get("\(proxy.base)/logout-all", ["-H", "Cookie: \(first)"])
        #expect(logout.status == 200)
        #expect(logout.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(second)"]).status == 401)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(first)"]).status == 401)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(other)"]).status == 200)
    }

    /// SPEC: `Session-Update` and `Session-Logout` count on "any route with a session". On an
    /// `auth: none` route the session is not looked up and the backend learns nothing of the
    /// user. A `Session-Logout` there still ends the session of the signed cookie the request
    /// presented (found by a black-box audit: it was ignored); a `Session-Update` is ignored
    /// (found by a later audit: a public route's backend could raise anyone's `roles`).
    @Test func controlHeadersOnARouteWithoutAuthenticationActOnThePresentedSession() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("fay")
        let update = try await Curl.get("\(proxy.base)/public/update", ["-H", "Cookie: \(cookie)"])
        #expect(update.status == 200 && update.header("session-update") == nil, "the response passes, the header removed")
        _ = try await Curl.get("\(proxy.base)/api/next", ["-H", "Cookie: \(cookie)"])
        #expect(proxy.backend.requests.last?.values("X-User-Email") == ["fay@example.com"], "the attributes are unchanged")
        _ = try await Curl.get("\(proxy.base)/api/update", ["-H", "Cookie: \(cookie)"])
        _ = try await Curl.get("\(proxy.base)/api/next", ["-H", "Cookie: \(cookie)"])
        #expect(proxy.backend.requests.last?.values("X-User-Email") == ["new@example.com"], "the control: a route with the session")

        let current = try await Curl.get("\(proxy.base)/public/logout-current", ["-H", "Cookie: \(cookie)"])
        #expect(current.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(cookie)"]).status == 401)

        let (first, second, other) = (try await proxy.login("gus"), try await proxy.login("gus"), try await proxy.login("hal"))
        let all = try await Curl.get("\(proxy.base)/public/logout-all", ["-H", "Cookie: \(first)"])
        #expect(all.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(second)"]).status == 401)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(other)"]).status == 200)

        // Without a cookie there is nothing to act on: the response passes, nothing changes.
        let none = try await Curl.get("\(proxy.base)/public/logout-all")
        #expect(none.status == 200 && none.header("set-cookie") == nil)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(other)"]).status == 200)
    }

    @Test func logoutEndpointEndsTheSession() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login()
        let api = try await Curl.get("\(proxy.base)/logout", ["-X", "POST", "-H", "Cookie: \(cookie)"])
        #expect(api.status == 204)
        #expect(api.header("set-cookie")?.contains("cloakroom_session=;") == true)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(cookie)"]).status == 401)

        let browserCookie = try await proxy.login()
        let browser = try await Curl.get("\(proxy.base)/logout", ["-H", "Cookie: \(browserCookie)", "-H", "Accept: text/html"])
        #expect(browser.status == 303)
        #expect(browser.header("location") == "/")
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(browserCookie)"]).status == 401)
        #expect(proxy.backend.requests.allSatisfy { !$0.uri.hasPrefix("/logout") })
    }

    @Test func loginRotatesTheSessionAndIgnoresInvalidControlHeaders() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let old = try await proxy.login("frank")
        let again = try await Curl.get("\(proxy.base)/login?sub=frank", ["-H", "Cookie: \(old)"])
        let new = try #require(again.header("set-cookie")?.split(separator: ";").first.map(String.init))
        #expect(new != old)
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(old)"]).status == 401, "the presented session ends at login")
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(new)"]).status == 200)

        let bad = try await Curl.get("\(proxy.base)/login?bad=1")
        #expect(bad.status == 200, "the response still reaches the client")
        #expect(bad.header("set-cookie") == nil)
        #expect(bad.header("session-login") == nil)
    }

    /// The session cookie is the proxy's: a backend's `Set-Cookie` of that name (which would
    /// overwrite the user's session cookie, or plant one) never reaches the client; the
    /// backend's other cookies do.
    @Test func backendCannotSetTheSessionCookie() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("hana")
        let response = try await Curl.get("\(proxy.base)/api/set-cookies", ["-H", "Cookie: \(cookie)"])
        #expect(response.status == 200)
        #expect(response.headers("set-cookie") == ["theme=dark; Path=/"])
        #expect(try await Curl.get("\(proxy.base)/api", ["-H", "Cookie: \(cookie)"]).status == 200, "the session is untouched")
    }

    @Test func echoUpstreamShowsTheRequestAsTheBackendWouldSeeIt() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("gina")
        let response = try await Curl.get("\(proxy.base)/echo/me?x=1", ["-H", "Cookie: \(cookie)", "-H", "X-User-Id: mallory"])
        #expect(response.status == 200)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        #expect(json["path"] as? String == "/echo/me?x=1")
        let headers = try #require(json["headers"] as? [String: Any])
        #expect(headers["x-user-id"] as? String == "gina")
        #expect(headers["cookie"] == nil)
    }

    @Test func hopByHopHeadersAreRemovedBothWaysAndRequestIdKept() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let response = try await Curl.get(
            "\(proxy.base)/public/h",
            ["-H", "Connection: keep-alive, X-Hop", "-H", "X-Hop: 1", "-H", "Keep-Alive: timeout=1", "-H", "X-Request-Id: abc-123"])
        #expect(response.status == 200)
        #expect(response.header("x-private") == nil)
        #expect(response.header("keep-alive") == nil)
        #expect(response.header("x-backend") == "1")
        #expect(response.header("x-request-id") == "abc-123")
        let seen = try #require(proxy.backend.requests.last)
        #expect(seen.value("X-Hop") == nil)
        #expect(seen.value("Keep-Alive") == nil)
        #expect(seen.value("X-Request-Id") == "abc-123")

        let invalid = try await Curl.get("\(proxy.base)/public/h", ["-H", "X-Request-Id: bad id with spaces"])
        #expect(invalid.header("x-request-id") != "bad id with spaces")
        #expect(invalid.header("x-request-id")?.isEmpty == false)
    }

    @Test func pathIsNormalizedBeforeRoutingAndForwarding() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        // /public/../private must not ride the public route's "auth: none".
        let response = try await Curl.get("\(proxy.base)/public/%2e%2e/private", ["--path-as-is"])
        #expect(response.status == 401)
        #expect(proxy.backend.requests.isEmpty)
        let climbing = try await Curl.get("\(proxy.base)/../etc/passwd", ["--path-as-is"])
        #expect(climbing.status == 400)
    }
}
