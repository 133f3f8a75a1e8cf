import Foundation
import Testing

@testable import CloakroomOIDC

/// How a token endpoint's answer is read: only the provider's own error answer is a refusal
/// (which ends a session whose refresh it was); whatever else is no token set is a provider
/// that could not answer (502, the session kept).
@Suite struct TokenAnswerTests {
    static let issued = Date(timeIntervalSince1970: 1_800_000_000)

    static func read(_ status: Int, _ body: String) -> Result<TokenSet, OIDCFailure> {
        Result { () throws(OIDCFailure) in try OIDCClient.tokens(status: status, body: Array(body.utf8), issued: issued) }
    }

    @Test func aTokenSet() throws {
        let tokens = try Self.read(200, #"{"access_token":"at","refresh_token":"rt","id_token":"it","expires_in":300}"#).get()
        #expect(tokens == TokenSet(idToken: "it", accessToken: "at", refreshToken: "rt", issuedAt: Self.issued, expiresAt: Self.issued + 300))
    }

    @Test(arguments: [(400, #"{"error":"invalid_grant"}"#), (401, #"{"error":"invalid_client"}"#)])
    func theProvidersErrorAnswerIsARefusal(status: Int, body: String) {
        guard case .failure(.refused(let why)) = Self.read(status, body) else { Issue.record("\(Self.read(status, body))"); return }
        #expect(why.contains("invalid_"))
    }

    /// Found by an audit: a 200 with an HTML body (a load balancer's error page in front of
    /// the provider) ended the session as a refused refresh.
    @Test(arguments: [
        (200, "<html>not json</html>"), (200, #"{"token_type":"Bearer"}"#), (200, #"{"access_token":""}"#),
        (429, #"{"error":"slow_down"}"#), (404, "<html>Not Found</html>"), (400, "<html>Bad Request</html>"),
        (500, #"{"error":"server_error"}"#), (503, ""),
    ])
    func anythingElseIsAProviderThatCouldNotAnswer(status: Int, body: String) {
        guard case .failure(.unavailable) = Self.read(status, body) else { Issue.record("\(status): \(Self.read(status, body))"); return }
    }
}
