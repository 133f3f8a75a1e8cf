import CloakroomConfig
import CloakroomOIDC
import CloakroomProxy
import CloakroomSessions
import Logging
import Synchronization

import struct Foundation.Date

/// CloakroomOIDC's client as the ``SingleSignOn`` the request phases use: the one place the
/// proxy core meets the OpenID Connect implementation.
extension OIDCClient: SingleSignOn {
    public func beginLogin(next: String) async -> Result<(location: String, state: String, cookieValue: String), SignOnFailure> {
        do {
            return .success(try await authorizationRedirect(next: next))
        } catch {
            return .failure(Self.failure(error))
        }
    }

    public func pendingLoginState(_ cookieValue: String, now: Date) -> String? {
        pendingState(cookieValue, now: now)
    }

    public func completeLogin(
        query: Substring, cookieValue: String?, firstUse: @escaping @Sendable (String, Date) async throws -> Bool
    ) async -> Result<SignedOn, SignOnFailure> {
        do {
            let login = try await finishLogin(query: query, cookieValue: cookieValue, firstUse: firstUse)
            return .success(SignedOn(attributes: login.attributes, secrets: tokenSeal.seal(login.tokens), links: login.links, next: login.next))
        } catch {
            return .failure(Self.failure(error))
        }
    }

    public func accessToken(in secrets: JSONObject, now: Date) -> (token: String?, refreshDue: Bool) {
        let tokens = tokenSeal.open(secrets)
        return (tokens.accessToken, tokens.needsRefresh(now: now))
    }

    public func refresh(_ secrets: JSONObject) async -> Result<JSONObject, SignOnFailure> {
        do {
            return .success(tokenSeal.seal(try await refreshTokens(tokenSeal.open(secrets))))
        } catch {
            return .failure(Self.failure(error))
        }
    }

    public func verifyLogoutToken(_ token: String) async -> Result<ProviderLogout, SignOnFailure> {
        do {
            let logout = try await verifyLogout(token)
            return .success(ProviderLogout(links: logout.links, jti: logout.jti, until: logout.until))
        } catch {
            return .failure(Self.failure(error))
        }
    }

    public func endSessionLocation(secrets: JSONObject?, postLogoutRedirect: String) -> String? {
        endSessionURL(idToken: secrets.flatMap { tokenSeal.open($0).idToken }, postLogoutRedirect: postLogoutRedirect)
    }

    public func bearerVerdictNow(_ token: String, now: Date) -> BearerVerdict? {
        guard let bearerTokens else { return .invalid(Self.noBearerAudience) }
        return bearerTokens.checkNow(token, now: now).map(verdict)
    }

    public func verifyBearer(_ token: String, now: Date) async -> BearerVerdict {
        guard let bearerTokens else { return .invalid(Self.noBearerAudience) }
        return verdict(await bearerTokens.check(token, now: now))
    }

    static let noBearerAudience = "login.oidc.bearer_audience is not set"

    private func verdict(_ check: BearerCheck) -> BearerVerdict {
        switch check {
        case .valid(let bearer):
            return .valid(BearerIdentity(attributes: bearer.attributes, expiresAt: bearer.expiresAt, handle: bearer.handle))
        case .invalid(let why):
            return .invalid(why)
        case .providerUnavailable(let why):
            logger.warning("identity provider unavailable for a bearer token", metadata: ["error": "\(why)"])
            return .providerUnavailable
        }
    }

    static func failure(_ error: OIDCFailure) -> SignOnFailure {
        switch error {
        case .unavailable(let why): return .unavailable(why)
        case .refused(let why): return .refused(why)
        }
    }
}

/// The OpenID Connect client of the running configuration, kept across reloads that leave
/// `login.oidc` and `session.secrets` as they were (discovery and the key set survive),
/// replaced and shut down otherwise: its seals (the pending login's, the session tokens') use
/// the secrets, so a rotation by reload must reach them.
final class SignOnClients: Sendable {
    private let current = Mutex<(settings: OIDCSettings, secrets: [[UInt8]], client: OIDCClient)?>(nil)

    func client(for settings: OIDCSettings, secrets: [[UInt8]], logger: Logger) throws -> OIDCClient {
        if let existing = current.withLock({ $0 }), existing.settings == settings, existing.secrets == secrets { return existing.client }
        let http: ProviderHTTP
        do {
            http = try ProviderHTTP(caPath: settings.caPath)
        } catch {
            throw ServerStartError.unsupported("login.oidc.ca: \(error)")
        }
        let client = OIDCClient(settings: settings, http: http, secrets: secrets, logger: logger)
        client.start()
        let replaced = current.withLock { current -> OIDCClient? in
            defer { current = (settings, secrets, client) }
            return current?.client
        }
        if let replaced {
            // Requests that started under the old configuration may still use it for a moment.
            Task {
                try? await Task.sleep(for: .seconds(30))
                await replaced.shutdown()
            }
        }
        return client
    }

    func shutdown() async {
        let client = current.withLock { current -> OIDCClient? in
            defer { current = nil }
            return current?.client
        }
        await client?.shutdown()
    }
}
