import CloakroomConfig
import CloakroomProxy
import HTTPTypes
import Testing

/// ``ResponseFieldRule`` is ``ProxyPolicy/filterResponse(_:exchange:)``'s rule on raw names:
/// for every name, in every spelling, a field survives the filter exactly when the rule says
/// `forward`, the rule says `control` exactly for the fields that make session effects, and
/// `setCookie` for the one field the policy checks by value.
@Suite struct ResponseFieldRuleTests {
    let fixture = PolicyFixture(makeConfiguration(routes: [Route(path: "/", upstream: "api", auth: .none)]))

    static let names = [
        "TE", "te", "Trailer", "Upgrade", "Connection", "Keep-Alive", "KEEP-ALIVE", "Proxy-Connection", "Transfer-Encoding",
        "Proxy-Authenticate", "Proxy-Authorization", "X-Request-Id", "x-request-id", "Session-Login", "SESSION-UPDATE",
        "session-logout", "Content-Type", "Content-Length", "Set-Cookie", "Date", "Server", "Vary", "ETag", "Tee", "Trailers",
        "Upgraded", "X-Request-Ids", "Session-Logins", "Proxy-Connections", "Cache-Control", "X-Forwarded-For", "Location",
    ]

    @Test(arguments: names)
    func ruleMatchesTheFilter(_ name: String) async throws {
        var request = makeRequest(.get, "/x")
        let exchange = try await fixture.beginAndLookUp(&request, client: plainClient, requestID: "rid")
        // Any value: a control header is removed whether or not it is valid.
        var response = makeResponse(.ok, headers: [(name, "{}")])
        _ = fixture.policy.filterResponse(&response, exchange: exchange)
        let survived = response.headerFields.contains { $0.name.canonicalName == name.lowercased() && $0.value != "rid" }
        let rule = ResponseFieldRule.of(name: Array(name.utf8))
        // A `Set-Cookie` survives unless it sets the session cookie (not this value's `{}`).
        #expect(survived == (rule == .forward || rule == .setCookie), "\(name): survived \(survived), rule \(rule)")
        #expect((rule == .setCookie) == (name.lowercased() == "set-cookie"), "\(name)")
        #expect((rule == .control) == ["session-login", "session-update", "session-logout"].contains(name.lowercased()), "\(name)")
    }
}
