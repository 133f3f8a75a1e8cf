import CloakroomConfig
import CloakroomSessions
import Foundation
import HTTPTypes
import Logging
import Testing

@testable import CloakroomProxy

/// The admin API as plain Swift: routes, token, bodies and failures, without sockets.
@Suite struct AdminAPITests {
    static let token = "admin-token-admin-token-admin-token-00"
    let fixture = PolicyFixture()
    var auth: String { "Bearer \(Self.token)" }

    func api(store: (any SessionStore)? = nil) -> AdminAPI {
        AdminAPI(
            store: store ?? fixture.store, token: Self.token, cookies: fixture.policy.cookies, logger: Logger(label: "test"),
            metrics: { "# HELP x\nx 1\n" })
    }

    func json(_ response: AdminAPI.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
    }

    @Test func everyRouteButHealthzNeedsTheToken() async {
        let api = api()
        for target in ["/metrics", "/sessions", "/sessions?user=a"] {
            #expect(await api.handle(.init(method: .get, target: target, authorization: nil)).status == .unauthorized)
            #expect(await api.handle(.init(method: .get, target: target, authorization: "Bearer wrong")).status == .unauthorized)
            #expect(await api.handle(.init(method: .get, target: target, authorization: Self.token)).status == .unauthorized, "scheme required")
        }
        #expect(await api.handle(.init(method: .delete, target: "/sessions", authorization: nil)).status == .unauthorized)
        #expect(await api.handle(.init(method: .get, target: "/sessions", authorization: "bearer \(Self.token)")).status == .ok, "scheme is case-insensitive")
        #expect(await api.handle(.init(method: .get, target: "/sessions", authorization: "Bearer\t\(Self.token)")).status == .ok, "a tab after the scheme")
        let health = await api.handle(.init(method: .get, target: "/healthz", authorization: nil))
        #expect(health.status == .ok)
        #expect(health.body == "{\"status\":\"ok\"}")
    }

    @Test func healthzIs503WhenTheStoreFails() async {
        let response = await api(store: UnavailableStore()).handle(.init(method: .get, target: "/healthz", authorization: nil))
        #expect(response.status == .serviceUnavailable)
        let listing = await api(store: UnavailableStore()).handle(.init(method: .get, target: "/sessions", authorization: auth))
        #expect(listing.status == .serviceUnavailable)
        #expect(listing.body == "{\"error\":\"session_store_unavailable\"}")
    }

    @Test func createListAndRevoke() async throws {
        let api = api()
        let created = await api.handle(
            .init(method: .post, target: "/sessions", authorization: auth, body: Array("{\"attributes\":{\"sub\":\"alice\",\"email\":\"a@x\"}}".utf8)))
        #expect(created.status == .created)
        let cookie = try #require(try json(created)["cookie"] as? String)
        #expect(cookie.hasPrefix("cloakroom_session="))
        _ = await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: Array("{\"attributes\":{\"sub\":\"bob\"}}".utf8)))

        let everyone = try json(await api.handle(.init(method: .get, target: "/sessions", authorization: auth)))["sessions"] as? [[String: Any]]
        #expect(everyone?.count == 2)
        let alice = try json(await api.handle(.init(method: .get, target: "/sessions?user=alice", authorization: auth)))["sessions"] as? [[String: Any]]
        #expect(alice?.count == 1)
        let session = try #require(alice?.first)
        #expect(session["sub"] as? String == "alice")
        #expect((session["attributes"] as? [String: Any])?["email"] as? String == "a@x")
        for key in ["handle", "created_at", "last_seen_at", "expires_at"] { #expect(session[key] is String, "\(key)") }

        let handle = try #require(session["handle"] as? String)
        let revoked = await api.handle(.init(method: .delete, target: "/sessions/\(handle)", authorization: auth))
        #expect(revoked.status == .noContent)
        #expect(revoked.contentType == nil && revoked.body.isEmpty, "a 204 has no content, so no Content-Type")
        #expect(await api.handle(.init(method: .delete, target: "/sessions/\(handle)", authorization: auth)).status == .notFound)
        let byUser = await api.handle(.init(method: .delete, target: "/users/bob/sessions", authorization: auth))
        #expect(byUser.body == "{\"revoked\":1}")
        #expect(await api.handle(.init(method: .delete, target: "/sessions", authorization: auth)).body == "{\"revoked\":0}")
    }

    /// `DELETE /sessions?user=alice`, copied from the GET, ended everyone's sessions (found by an
    /// audit): a query on the everyone-call is refused and ends nothing.
    @Test func deleteEveryoneRefusesAQuery() async throws {
        let api = api()
        for sub in ["alice", "bob"] {
            let body = Array("{\"attributes\":{\"sub\":\"\(sub)\"}}".utf8)
            #expect(await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: body)).status == .created)
        }
        for target in ["/sessions?user=alice", "/sessions?x=1", "/sessions?"] {
            let response = await api.handle(.init(method: .delete, target: target, authorization: auth))
            #expect(response.status == .badRequest, "\(target)")
            #expect(try json(response)["error"] as? String == "unexpected_query", "\(target)")
        }
        let left = try json(await api.handle(.init(method: .get, target: "/sessions", authorization: auth)))["sessions"] as? [[String: Any]]
        #expect(left?.count == 2)
    }

    /// `GET /sessions?usr=bob` listed everyone's sessions (found by an audit): the lists take
    /// `user` alone, once, not empty, validly percent-encoded, and refuse anything else.
    @Test func listsRefuseAQueryTheyDoNotTake() async throws {
        let api = api()
        for sub in ["alice", "bob", "a+b&c"] {
            let body = Array("{\"attributes\":{\"sub\":\"\(sub)\"}}".utf8)
            #expect(await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: body)).status == .created)
        }
        for list in ["/sessions", "/api-keys"] {
            for query in ["usr=bob", "user=bob&user=alice", "user=%ZZ", "user=", "user", "", "user=bob&x=1"] {
                let response = await api.handle(.init(method: .get, target: "\(list)?\(query)", authorization: auth))
                #expect(response.status == .badRequest, "\(list)?\(query)")
                #expect(try json(response)["error"] as? String == "unexpected_query", "\(list)?\(query)")
            }
        }
        let encoded = try json(await api.handle(.init(method: .get, target: "/sessions?user=a%2Bb%26c", authorization: auth)))
        #expect((encoded["sessions"] as? [[String: Any]])?.map { $0["sub"] as? String } == ["a+b&c"])
        let bob = try json(await api.handle(.init(method: .get, target: "/sessions?user=bob", authorization: auth)))
        #expect((bob["sessions"] as? [[String: Any]])?.count == 1)
    }

    /// `DELETE /sessions/` names an empty handle: 404, never "everyone" like `DELETE /sessions`
    /// (the CLI sent it for `sessions revoke --session ""`). The same for every route with a
    /// name in its path.
    @Test func anEmptyHandleOrSubIs404AndEndsNothing() async throws {
        let api = api()
        for sub in ["alice", "bob"] {
            let body = Array("{\"attributes\":{\"sub\":\"\(sub)\"}}".utf8)
            #expect(await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: body)).status == .created)
        }
        for target in ["/sessions/", "//sessions", "/sessions//", "/users//sessions", "/users/alice/sessions/", "/api-keys/", "/users//api-keys"] {
            let response = await api.handle(.init(method: .delete, target: target, authorization: auth))
            #expect(response.status == .notFound, "\(target): \(response.status)")
        }
        let left = try json(await api.handle(.init(method: .get, target: "/sessions", authorization: auth)))["sessions"] as? [[String: Any]]
        #expect(left?.count == 2)
    }

    @Test func badBodiesAndUnknownRoutes() async {
        let api = api()
        let notJSON = await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: Array("nope".utf8)))
        #expect(notJSON.status == .badRequest && notJSON.body.contains(#""message":"the body must be a JSON object in UTF-8"#), "\(notJSON.body)")
        let noSub = await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: Array("{\"attributes\":{}}".utf8)))
        #expect(noSub.status == .badRequest)
        #expect(noSub.body.hasPrefix("{\"error\":\"missing_sub\",\"message\":"), "\(noSub.body)")
        // A sub with a control character: the same code, and the message says the rule (found by an audit).
        let controlSub = await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: Array(#"{"attributes":{"sub":"a\nb"}}"#.utf8)))
        #expect(controlSub.status == .badRequest)
        #expect(controlSub.body.contains("control characters"), "\(controlSub.body)")
        // Bytes that are not UTF-8 are no JSON (found by an audit: `zo\xeb` became `zo\u{FFFD}`,
        // one user with every other name spelled so), for a session and for a key.
        // A field the call does not take is named (found by an audit: `"tll":"1d"` made a
        // 90-day key, `"ttl"` on a session was silently dropped).
        for (target, body) in [("/sessions", #"{"attributes":{"sub":"a"},"ttl":"1s"}"#), ("/api-keys", #"{"attributes":{"sub":"a"},"tll":"1d"}"#)] {
            let refused = await api.handle(.init(method: .post, target: target, authorization: auth, body: Array(body.utf8)))
            #expect(refused.status == .badRequest && refused.body.contains("invalid_body"), "\(target): \(refused.body)")
            #expect(refused.body.contains(#"unknown field \"t"#), "\(refused.body)")
        }
        let latin1 = Array(#"{"attributes":{"sub":"zo"#.utf8) + [0xEB] + Array(#""}}"#.utf8)
        for target in ["/sessions", "/api-keys"] {
            let refused = await api.handle(.init(method: .post, target: target, authorization: auth, body: latin1))
            #expect(refused.status == .badRequest, "\(target): \(refused.status) \(refused.body)")
        }
        #expect(await api.handle(.init(method: .get, target: "/nope", authorization: auth)).status == .notFound)
        #expect(await api.handle(.init(method: .put, target: "/sessions", authorization: auth)).status == .methodNotAllowed)
        // A known path with another method is 405 naming what it answers (RFC 9110 §15.5.6).
        for (method, target, allow) in [
            (HTTPRequest.Method.put, "/sessions", "GET, POST, DELETE"), (.patch, "/sessions/abc", "DELETE"),
            (.get, "/users/x/sessions", "DELETE"), (.get, "/users/x/api-keys", "DELETE"), (.get, "/reload", "POST"),
            (.post, "/metrics", "GET"), (.put, "/api-keys", "GET, POST"), (.get, "/api-keys/abc", "DELETE"),
        ] {
            let response = await api.handle(.init(method: method, target: target, authorization: auth))
            #expect(response.status == .methodNotAllowed && response.allow == allow, "\(method) \(target): \(response.status)")
        }
        #expect(await api.handle(.init(method: .post, target: "/healthz", authorization: nil)).status == .methodNotAllowed)
        let metrics = await api.handle(.init(method: .get, target: "/metrics", authorization: auth))
        #expect(metrics.contentType?.hasPrefix("text/plain") == true)
        #expect(metrics.body.contains("x 1"))
    }

    @Test func userAndHandleSegmentsArePercentDecoded() async throws {
        let api = api()
        _ = await api.handle(.init(method: .post, target: "/sessions", authorization: auth, body: Array("{\"attributes\":{\"sub\":\"a b@x.com\"}}".utf8)))
        let listed = try json(await api.handle(.init(method: .get, target: "/sessions?user=a%20b%40x.com", authorization: auth)))["sessions"] as? [[String: Any]]
        #expect(listed?.count == 1)
        #expect(await api.handle(.init(method: .delete, target: "/users/a%20b%40x.com/sessions", authorization: auth)).body == "{\"revoked\":1}")
    }
}
