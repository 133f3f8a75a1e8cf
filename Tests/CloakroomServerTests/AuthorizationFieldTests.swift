import CloakroomConfig
import CloakroomSessions
import Foundation
import Testing

/// The `Authorization` field as the proxy reads it (SPEC "Machine clients": an API key's field
/// "is never forwarded"). Found by a black-box audit: with two fields the proxy read them joined
/// (`Bearer x, Bearer ck_…`), judged that as some other token and forwarded both, the key with
/// them; and `Bearer<TAB>ck_…` was no bearer credential to it, so the key was forwarded too.
@Suite(.serialized)
struct AuthorizationFieldTests {
    /// The harness's routes, with `/keys/` taking a cookie or an API key first.
    static func start() async throws -> (ProxyHarness, (text: String, key: SessionKey)) {
        let harness = try await ProxyHarness.start(adjust: { configuration in
            var keys = Route(path: "/keys/", upstream: "api", auth: .required)
            keys.credentials = RouteCredentials([.cookie, .apiKey])
            configuration.routes.insert(keys, at: 0)
        })
        let store = try #require(harness.server.store as? any APIKeyStore)
        let secret = APIKeySecret.random()
        _ = try await store.createKey(key: secret.key, attributes: ["sub": "ci-bot"], name: "ci", ttl: .seconds(3600))
        return (harness, secret)
    }

    @Test func twoAuthorizationFieldsAre400AndNothingIsForwardedOnHTTP1() async throws {
        let (proxy, key) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let before = proxy.backend.requests.count
        // The audit's case (a cookie-only route, a valid cookie), the key's own route, a route
        // without authentication; any case of the name, the key first or second.
        for (path, first, second) in [
            ("/x", "Authorization: Bearer x", "Authorization: Bearer \(key.text)"),
            ("/keys/x", "Authorization: Bearer \(key.text)", "authorization: Bearer x"),
            ("/public/x", "AUTHORIZATION: Basic YTpi", "Authorization: Bearer \(key.text)"),
            ("/x", "Authorization: Bearer x", "Authorization: Bearer x"),
        ] {
            let answer = try await RawSocket.send(
                port: proxy.port, "GET \(path) HTTP/1.1\r\nHost: a\r\nCookie: \(cookie)\r\n\(first)\r\n\(second)\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(path) \(first) \(second): \(answer)")
            #expect(answer.hasSuffix("{\"error\":\"bad_request\"}"), "\(path): \(answer)")
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(proxy.backend.requests.count == before, "the backend saw none of them")
        // One field is still a request like any other.
        let one = try await Curl.get("\(proxy.base)/keys/x", ["-H", "Authorization: Bearer \(key.text)"])
        #expect(one.status == 200)
        #expect(proxy.backend.requests.last?.value("authorization") == nil)
    }

    @Test func twoAuthorizationFieldsAre400AndNothingIsForwardedOnHTTP2() async throws {
        let (proxy, key) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let before = proxy.backend.requests.count
        let port = proxy.port
        let connection = try await offPool {
            let connection = try RawHTTP2Connection(port: port)
            HTTP2EndToEndTests.request(
                connection, 1, path: "/x", extra: [("cookie", cookie), ("authorization", "Bearer x"), ("authorization", "Bearer \(key.text)")])
            HTTP2EndToEndTests.request(
                connection, 3, path: "/public/x", extra: [("authorization", "Bearer \(key.text)"), ("authorization", "Bearer \(key.text)")])
            HTTP2EndToEndTests.request(connection, 5, path: "/keys/x", extra: [("authorization", "Bearer \(key.text)")])
            connection.read(timeout: 5) { _ in
                [1, 3, 5].allSatisfy { connection.responses[$0]?.ended == true || connection.responses[$0]?.reset != nil }
            }
            return connection
        }
        for stream: UInt32 in [1, 3] {
            #expect(connection.responses[stream]?.status == 400, "stream \(stream): \(connection.frames)")
            #expect(connection.responses[stream]?.text == "{\"error\":\"bad_request\"}", "stream \(stream)")
        }
        #expect(connection.responses[5]?.status == 200, "one field is served: \(connection.frames)")
        #expect(connection.goAway == nil, "a request's error, not the connection's")
        #expect(proxy.backend.requests.count == before + 1, "only the request with one field forwarded")
        #expect(proxy.backend.requests.last?.value("x-user-id") == "ci-bot")
        #expect(proxy.backend.requests.last?.value("authorization") == nil)
    }

    /// RFC 9110 §11.4: the scheme in any case, then whitespace; a tab counts like a space.
    @Test func aKeyAfterATabIsAKeyEverywhere() async throws {
        let (proxy, key) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        for authorization in ["Bearer\t\(key.text)", "bEARER \t \t\(key.text)"] {
            let field = ["-H", "Authorization: \(authorization)"]
            // Where keys count: signed in by it, and it is never forwarded.
            let signed = try await Curl.get("\(proxy.base)/keys/x", field)
            #expect(signed.status == 200, "\(authorization.debugDescription)")
            #expect(proxy.backend.requests.last?.value("x-user-id") == "ci-bot")
            #expect(proxy.backend.requests.last?.value("authorization") == nil)
            // A cookie-only route: a kind it does not accept, beside a valid cookie too.
            let before = proxy.backend.requests.count
            let refused = try await Curl.get("\(proxy.base)/x", field + ["-H", "Cookie: \(cookie)"])
            #expect(refused.status == 401, "\(authorization.debugDescription)")
            #expect(refused.header("www-authenticate") == #"Bearer error="invalid_token""#)
            #expect(proxy.backend.requests.count == before, "nothing forwarded")
            // Without authentication: forwarded, the key taken out.
            let open = try await Curl.get("\(proxy.base)/public/x", field)
            #expect(open.status == 200)
            #expect(proxy.backend.requests.last?.value("authorization") == nil, "\(authorization.debugDescription)")
        }
    }

    /// `Authorization: Bearer` with no token (or only blanks, which a field value loses) on a
    /// route that takes a bearer kind is a bad credential, judged alone: 401 `invalid_token`,
    /// never the cookie beside it nor a redirect to the login (found by an audit).
    @Test func anEmptyBearerIsABadCredential() async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        let before = proxy.backend.requests.count
        for value in ["Bearer", "bearer", "Bearer   ", "Bearer \t"] {
            for extra in [["-H", "Cookie: \(cookie)"], ["-H", "Accept: text/html"]] {
                let answer = try await Curl.get("\(proxy.base)/keys/x", ["-H", "Authorization: \(value)"] + extra)
                #expect(answer.status == 401, "\(value.debugDescription) \(extra)")
                #expect(answer.header("www-authenticate") == #"Bearer error="invalid_token""#)
                #expect(answer.body == #"{"error":"unauthenticated"}"#)
            }
        }
        #expect(proxy.backend.requests.count == before, "nothing forwarded")
        // The same cookie without the field still signs in.
        #expect(try await Curl.get("\(proxy.base)/keys/x", ["-H", "Cookie: \(cookie)"]).status == 200)
    }
}
