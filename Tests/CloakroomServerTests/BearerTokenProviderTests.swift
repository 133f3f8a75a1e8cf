import CloakroomConfig
import CloakroomProxy
import Foundation
import Logging
import Testing

@testable import CloakroomServer

/// Bearer access tokens from the real provider (idpyoidc issuing RFC 9068 JWT access tokens
/// whose `aud` names `orders-api`), checked by the running proxy's own OpenID Connect client:
/// the token a signed-in browser's session holds is verified as a bearer credential, once.
@Suite(.serialized)
struct BearerTokenProviderTests {
    static func runningClient(_ proxy: ProxyHarness) throws -> any SingleSignOn {
        let settings = try #require(proxy.server.configuration.login.oidc)
        // The same settings: the client the proxy runs with, not a new one.
        return try proxy.server.factory.signOnClients.client(for: settings, secrets: [], logger: Logger(label: "test"))
    }

    @Test func theProvidersAccessTokenVerifiesAsABearerCredential() async throws {
        let port = try freePort()
        let base = "http://127.0.0.1:\(port)"
        let idp = try await IdentityProviderProcess.start(proxyBases: [base], accessTokenAudience: "orders-api")
        defer { idp.stop() }
        let proxy = try await ProxyHarness.start { configuration in
            configuration.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: port))]
            var oidc = OIDCSettings(
                issuer: idp.issuer, clientID: IdentityProviderProcess.clientID, clientSecret: IdentityProviderProcess.clientSecret,
                redirectURL: base + "/oauth2/callback")
            oidc.passAccessToken = true
            oidc.bearerAudience = "orders-api"
            configuration.login.oidc = oidc
            configuration.routes = [Route(path: "/", upstream: "api", auth: .required)]
        }
        defer { Task { await proxy.stop() } }

        // A browser signs in; with pass_access_token the backend receives the session's access
        // token, which is what a machine client of the same provider would present.
        _ = try await SingleSignOnTests.signIn(CookieJarBrowser(), proxy: proxy)
        let authorization = try #require(proxy.backend.requests.last?.value("authorization"))
        let token = String(authorization.dropFirst("Bearer ".count))
        #expect(token.split(separator: ".").count == 3, "a JWT access token")

        let client = try Self.runningClient(proxy)
        let now = Date()
        #expect(client.bearerVerdictNow(token, now: now) == nil, "not seen before")
        let verdict = await client.verifyBearer(token, now: now)
        guard case .valid(let identity) = verdict else { Issue.record("\(verdict)"); return }
        // The default mapping (sub, email, name): this provider's access tokens carry only sub.
        #expect(identity.attributes == ["sub": "diana"])
        #expect(abs(identity.expiresAt.timeIntervalSince(now) - 3600) < 60, "the token's exp")
        #expect(identity.handle.count == 16 && !token.contains(identity.handle))
        #expect(client.bearerVerdictNow(token, now: now) == verdict, "the cache answers without waiting")

        // A signature changed in its middle does not verify.
        var parts = token.split(separator: ".").map(String.init)
        let middle = parts[2].index(parts[2].startIndex, offsetBy: parts[2].count / 2)
        parts[2].replaceSubrange(middle...middle, with: parts[2][middle] == "A" ? "B" : "A")
        let forged = await client.verifyBearer(parts.joined(separator: "."), now: now)
        #expect(forged == .invalid("signature does not verify"), "\(forged)")

        // With the provider gone, the verified token is still answered from the cache.
        idp.stop()
        #expect(await client.verifyBearer(token, now: now.addingTimeInterval(60)) == verdict)
    }

    @Test func anUnreachableProviderIsUnavailableNotInvalid() async throws {
        let port = try freePort()
        let deadProvider = try freePort()
        let proxy = try await ProxyHarness.start { configuration in
            configuration.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: port))]
            var oidc = OIDCSettings(
                issuer: "http://127.0.0.1:\(deadProvider)", clientID: "cloakroom", clientSecret: "s",
                redirectURL: "http://127.0.0.1:\(port)/oauth2/callback")
            oidc.bearerAudience = "orders-api"
            configuration.login.oidc = oidc
        }
        defer { Task { await proxy.stop() } }
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        let client = try Self.runningClient(proxy)
        #expect(await client.verifyBearer(token, now: Date()) == .providerUnavailable)
        #expect(client.bearerVerdictNow(token, now: Date()) == nil, "an outage is not remembered")
    }
}
