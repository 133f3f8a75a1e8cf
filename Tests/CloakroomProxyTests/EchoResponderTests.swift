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
