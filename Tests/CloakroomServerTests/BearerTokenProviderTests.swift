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
            var orders = Route(path: "/orders/", upstream: "api", auth: .required)
            orders.credentials = RouteCredentials([.cookie, .bearer])
            configuration.routes = [orders, Route(path: "/", upstream: "api", auth: .required)]
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

        // Through the proxy, as a machine client: a route taking bearer tokens signs the request
        // in with the token's claims and forwards its Authorization as received; no cookie.
        let called = try await Curl.get(proxy.base + "/orders/42", ["-H", "Authorization: Bearer " + token])
        #expect(called.status == 200)
        #expect(called.header("set-cookie") == nil, "no session is created")
        let received = try #require(proxy.backend.requests.last)
        #expect(received.value("x-user-id") == "diana")
        #expect(received.value("authorization") == "Bearer " + token)
        let refused = try await Curl.get(
            proxy.base + "/orders/42", ["-H", "Authorization: Bearer " + parts.joined(separator: "."), "-H", "Accept: text/html"])
        #expect(refused.status == 401, "never a redirect for a client that sent a bearer credential")
        #expect(refused.header("www-authenticate") == #"Bearer error="invalid_token""#)
        let keyHere = try await Curl.get(proxy.base + "/orders/42", ["-H", "Authorization: Bearer ck_" + String(repeating: "A", count: 43)])
        #expect(keyHere.status == 401, "an API key on a route that takes only the provider's tokens")
        let cookieRoute = try await Curl.get(proxy.base + "/other", ["-H", "Authorization: Bearer " + token])
        #expect(cookieRoute.status == 401, "a cookie-only route does not take the token")

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
            var orders = Route(path: "/orders/", upstream: "api", auth: .required)
            orders.credentials = RouteCredentials([.bearer])
            configuration.routes = [orders]
        }
        defer { Task { await proxy.stop() } }
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        let client = try Self.runningClient(proxy)
        #expect(await client.verifyBearer(token, now: Date()) == .providerUnavailable)
        #expect(client.bearerVerdictNow(token, now: Date()) == nil, "an outage is not remembered")
        let answered = try await Curl.get(proxy.base + "/orders/1", ["-H", "Authorization: Bearer " + token])
        #expect(answered.status == 502, "the token could not be checked: never forwarded unchecked")
        #expect(answered.body.contains("identity_provider_unavailable"))
        #expect(proxy.backend.requests.isEmpty)
    }
}
