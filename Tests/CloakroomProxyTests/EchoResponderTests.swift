import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

@Suite struct EchoResponderTests {
    func echo(_ request: HTTPRequest, requestID: String = "rid-echo") throws -> (LocalResponse, JSONObject) {
        let response = EchoResponder.response(for: request, requestID: requestID)
        guard case .object(let body) = try json(response.body) else {
            Issue.record("echo body is not a JSON object")
            return (response, [:])
        }
        return (response, body)
    }

    @Test func listsMethodPathAndHeaders() throws {
        let request = makeRequest(
            .post, "/api/items?x=1", authority: "app.example",
            headers: [("Content-Type", "application/json"), ("X-User-Id", "alice")])
        let (response, body) = try echo(request)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "application/json")
        #expect(response.head.headerFields[.xRequestID] == "rid-echo")
        #expect(body["method"] == "POST")
        #expect(body["path"] == "/api/items?x=1")
        #expect(
            body["headers"]
                == ["host": "app.example", "content-type": "application/json", "x-user-id": "alice"])
        #expect(body.count == 3)
    }

    @Test func repeatedHeaderBecomesAnArrayInOrder() throws {
        let request = makeRequest(
            .get, "/", headers: [("X-Tag", "a"), ("Accept", "*/*"), ("x-tag", "b"), ("X-TAG", "c"), ("Y", "1"), ("y", "2")])
        let (_, body) = try echo(request)
        guard case .object(let headers)? = body["headers"] else {
            Issue.record("no headers object")
            return
        }
        #expect(headers["x-tag"] == ["a", "b", "c"])
        #expect(headers["y"] == ["1", "2"])
        #expect(headers["accept"] == "*/*")
    }

    @Test func valuesAreEchoedVerbatim() throws {
        let request = makeRequest(
            .get, "/", headers: [("X-Quote", #"say "hi" \ back"#), ("X-Unicode", "café ☕"), ("X-Empty", "")])
        let (_, body) = try echo(request)
        guard case .object(let headers)? = body["headers"] else {
            Issue.record("no headers object")
            return
        }
        #expect(headers["x-quote"] == #"say "hi" \ back"#)
        #expect(headers["x-unicode"] == "café ☕")
        #expect(headers["x-empty"] == "")
    }

    @Test func noAuthorityNoHost() throws {
        let (_, body) = try echo(makeRequest(.get, "/x", authority: ""))
        #expect(body["headers"] == [:])
        let (_, missing) = try echo(makeRequest(.get, "/x", authority: nil))
        #expect(missing["headers"] == [:])
    }

    @Test func echoesWhatTheBackendWouldReceive() async throws {
        // The echo upstream answers after phase 4: identity injected, client copies gone.
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice", "roles": ["a", "b"]])
        var request = makeRequest(.get, "/me", headers: [("Cookie", cookie), ("X-User-Id", "mallory")])
        let exchange = try await fixture.beginAndLookUp(&request, requestID: "rid-e2e")
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        let (_, body) = try echo(request, requestID: exchange.requestID)
        guard case .object(let headers)? = body["headers"] else {
            Issue.record("no headers object")
            return
        }
        #expect(headers["x-user-id"] == "alice")
        #expect(headers["x-user-roles"] == "a, b")
        #expect(headers["x-request-id"] == "rid-e2e")
        #expect(headers["cookie"] == nil)
        #expect(headers["host"] == "proxy.example")
    }
}

/// A browser gets the echo as a page: the same request, identity headers highlighted.
@Suite struct EchoPageTests {
    func page(_ request: HTTPRequest, policy: ProxyPolicy? = nil) -> (LocalResponse, String) {
        let response = EchoResponder.response(for: request, requestID: "rid-page", policy: policy)
        return (response, String(decoding: response.body, as: UTF8.self))
    }

    @Test func aBrowserGetsAPageAndAnAPIClientJSON() throws {
        let browser = makeRequest(.get, "/orders", headers: [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")])
        let (response, html) = page(browser)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "text/html; charset=utf-8")
        #expect(response.head.headerFields[.xRequestID] == "rid-page")
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(response.head.headerFields[HTTPField.Name("Content-Security-Policy")!]?.hasPrefix("default-src 'none'") == true)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<code>GET /orders</code>"))
        #expect(html.contains("<th scope=\"row\">host</th><td><code>proxy.example</code>"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href=\"http"), "self-contained")

        for accept in ["*/*", "application/json", "text/html;q=0", "text/plain"] {
            let (other, _) = page(makeRequest(.get, "/orders", headers: [("Accept", accept)]))
            #expect(other.head.headerFields[.contentType] == "application/json", "Accept: \(accept)")
        }
        let (none, _) = page(makeRequest(.get, "/orders"))
        #expect(none.head.headerFields[.contentType] == "application/json")
    }

    @Test func identityHeadersAreHighlightedAndTheUserCanSignOut() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice", "roles": ["a", "b"]])
        var request = makeRequest(
            .get, "/me", headers: [("Cookie", cookie), ("X-User-Id", "mallory"), ("Accept", "text/html"), ("X-Trace", "t1")])
        let exchange = try await fixture.beginAndLookUp(&request, requestID: "rid-e2e")
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        let (_, html) = page(request, policy: fixture.policy)
        #expect(html.contains(#"<tr class="identity"><th scope="row">x-user-id</th><td><code>alice</code> <span class="tag">identity</span>"#), "\(html)")
        #expect(html.contains(#"<tr class="identity"><th scope="row">x-user-roles</th><td><code>a, b</code>"#))
        #expect(!html.contains("mallory"), "the client's copy was stripped before the echo")
        #expect(html.contains(#"<tr><th scope="row">x-request-id</th><td><code>rid-e2e</code></td></tr>"#))
        #expect(html.contains(#"<tr><th scope="row">x-trace</th><td><code>t1</code></td></tr>"#), "client fields are plain rows")
        // Grouped by origin: the session's identity first, then what the proxy sets, then the client's.
        let identity = try #require(html.range(of: "Identity, from the session")).lowerBound
        let proxy = try #require(html.range(of: "Set by Cloakroom")).lowerBound
        let client = try #require(html.range(of: "From the client")).lowerBound
        let userID = try #require(html.range(of: ">x-user-id<")).lowerBound
        let requestID = try #require(html.range(of: ">x-request-id<")).lowerBound
        let trace = try #require(html.range(of: ">x-trace<")).lowerBound
        #expect(identity < userID && userID < proxy && proxy < requestID && requestID < client && client < trace)
        #expect(html.contains(#"<a class="button" href="/logout">Sign out</a>"#))
        #expect(html.contains("You are signed in"))
    }

    @Test func withoutASessionNothingIsHighlightedAndThereIsNoSignOut() {
        let fixture = PolicyFixture()
        let (_, html) = page(makeRequest(.get, "/public/x", headers: [("Accept", "text/html")]), policy: fixture.policy)
        #expect(!html.contains("class=\"identity\""))
        #expect(!html.contains("Sign out"))
        #expect(html.contains("No session on this request"))
    }

    @Test func everyValueIsEscaped() {
        let request = makeRequest(
            .get, "/a<b>?q=\"x\"&y='z'", headers: [("Accept", "text/html"), ("X-Evil", "<script>alert(1)</script>")])
        let (_, html) = page(request)
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("/a&lt;b&gt;?q=&quot;x&quot;&amp;y=&#39;z&#39;"))
    }
}
