import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// The logout endpoint the proxy answers itself (``ProxyPolicy/logout(_:)``).
@Suite struct ProxyPolicyLogoutTests {
    @Test func logoutEndsTheSessionAndAnswers204() async throws {
        let fixture = PolicyFixture()
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        let (otherID, _) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.post, "/logout", headers: [("Cookie", cookie)])
        let exchange = try await fixture.beginAndLookUp(&request, requestID: "rid-out")
        let response = await fixture.policy.logout(exchange)
        #expect(response.head.status == .noContent)
        #expect(response.body.isEmpty)
        #expect(response.head.headerFields[.xRequestID] == "rid-out")
        let setCookie = try #require(response.head.headerFields[.setCookie])
        #expect(setCookie.hasPrefix("cloakroom_session=;"))
        #expect(cookieAttributes(ofSetCookie: setCookie).contains("Max-Age=0"))
        #expect(try await fixture.store.lookup(key: id.key) == nil)
        #expect(try await fixture.store.lookup(key: otherID.key) != nil, "only the presented session ends")
    }

    @Test func logoutRedirectsBrowsers() async throws {
        var logout = LogoutSettings()
        logout.redirect = "/goodbye"
        let fixture = PolicyFixture(makeConfiguration(logout: logout))
        let (id, cookie) = try await fixture.login(["sub": "alice"])
        var request = makeRequest(.get, "/logout", headers: [("Cookie", cookie), ("Accept", "text/html")])
        let exchange = try await fixture.beginAndLookUp(&request)
        let response = await fixture.policy.logout(exchange)
        #expect(response.head.status == .seeOther)
        #expect(response.head.headerFields[.location] == "/goodbye")
        #expect(cookieAttributes(ofSetCookie: response.head.headerFields[.setCookie] ?? "").contains("Max-Age=0"))
        #expect(try await fixture.store.lookup(key: id.key) == nil)
    }

    @Test func logoutWithoutSessionStillExpiresTheCookie() async throws {
        let fixture = PolicyFixture()
        var request = makeRequest(.post, "/logout")
        let exchange = try fixture.begin(&request, client: tlsClient)
        let response = await fixture.policy.logout(exchange)
        #expect(response.head.status == .noContent)
        let attributes = cookieAttributes(ofSetCookie: response.head.headerFields[.setCookie] ?? "")
        #expect(attributes.contains("Max-Age=0"))
        #expect(attributes.contains("Secure"), "secure: auto on a TLS listener")
    }

    /// SPEC's CSRF rule covers "every POST the proxy answers itself": logout without a cookie
    /// too (found by an audit: it answered 204 to a foreign origin).
    @Test func aCrossSiteLogoutPostIsRefusedWithOrWithoutACookie() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice"])
        for headers in [[("Origin", "http://evil.example")], [("Origin", "http://evil.example"), ("Cookie", cookie)]] {
            var request = makeRequest(.post, "/logout", headers: headers)
            let exchange = try fixture.begin(&request)
            #expect(exchange.crossSite)
            guard case .respond(let refused) = fixture.policy.authorize(exchange) else {
                Issue.record("expected the CSRF 403")
                continue
            }
            #expect(refused.head.status == .forbidden)
        }
        var sameSite = makeRequest(.post, "/logout", headers: [("Sec-Fetch-Site", "same-origin")])
        #expect(try !fixture.begin(&sameSite).crossSite)
    }

    @Test func logoutWhenTheStoreIsDownIs503() async throws {
        let configuration = makeConfiguration()
        let policy = ProxyPolicy(
            configuration: configuration, store: UnavailableStore(), codec: testCodec, logger: silentLogger)
        var request = makeRequest(.post, "/logout", headers: [("Cookie", policy.cookies.cookiePair(for: .random()))])
        guard case .success(let exchange) = policy.begin(&request, client: plainClient, requestID: "r") else {
            Issue.record("begin failed")
            return
        }
        let response = await policy.logout(exchange)
        #expect(response.head.status == .serviceUnavailable)
        #expect(try json(response.body) == ["error": "session_store_unavailable"])
        #expect(response.head.headerFields[.setCookie] == nil)
    }
}
