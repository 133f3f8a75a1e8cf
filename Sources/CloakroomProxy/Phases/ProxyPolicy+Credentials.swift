import CloakroomConfig
import CloakroomSessions
import HTTPTypes

/// Machine clients (SPEC "Machine clients"): API keys and the identity provider's bearer tokens
/// on routes whose `credentials` accept them.
///
/// Precedence: `Authorization: Bearer` on such a route decides alone — phase 1 sets
/// ``Exchange/credential`` and drops the presented cookie, the server looks the credential up
/// in place of a session (``Exchange/needsLookup``), and phase 3 admits its identity through
/// `allow` exactly like a session's, or answers 401 `invalid_token`.
extension ProxyPolicy {
    /// The credential in `Authorization: Bearer …`, or `nil` when the request has none (then
    /// the cookie, where accepted, decides). The scheme is case-insensitive (RFC 9110 §11.4).
    static func presentedCredential(
        in request: HTTPRequest, accepting credentials: RouteCredentials, memo: VerifiedCookieMemo? = nil
    ) -> PresentedCredential? {
        guard credentials.acceptsBearerKind, let token = bearerToken(in: request) else { return nil }
        if APIKeySecret.hasPrefix(token) {
            guard credentials.apiKey else { return .unacceptable }
            if let memo, let key = memo.apiKey, memo.apiKeyText == token { return .apiKey(key) }
            guard let key = APIKeySecret.key(presented: token) else { return .unacceptable }
            if let memo { (memo.apiKeyText, memo.apiKey) = (String(token), key) }
            return .apiKey(key)
        }
        guard credentials.bearer, !token.isEmpty else { return .unacceptable }
        return .bearer(String(token))
    }

    /// The token of `Authorization: Bearer <token>` (``BearerCredentials``), or `nil` without
    /// one. The request has at most one `Authorization` field: the servers refuse a second as
    /// malformed (400), so no value here is two credentials joined by a comma.
    static func bearerToken(in request: HTTPRequest) -> Substring? {
        guard let value = PolicyRequestFields.value(.authorization, in: request) else { return nil }
        return BearerCredentials.token(in: value)
    }

    /// Phase 3 for a request that presented a machine credential: its identity (looked up into
    /// ``Exchange/session``) passes `allow` like a session's. Never a redirect, never the
    /// session's access token.
    func authorizeMachineClient(_ exchange: Exchange) -> Authorization {
        guard !exchange.credentialRefused, let attributes = exchange.session?.attributes else {
            return .respond(invalidCredential(exchange))
        }
        if let allow = exchange.route?.allow, !allow.admits(attributes) {
            return .respond(forbidden(exchange))
        }
        return .forward
    }
}

/// One connection's last valid bearer token and what it stands for (``ProxyPolicy/bearerVerdictNow(_:memo:)``).
///
/// - Important: Used on the connection's event loop only.
public final class BearerMemo {
    var owner: ObjectIdentifier?
    var token = ""
    var identity: BearerIdentity?

    public init() {}

    public func remember(_ token: String, _ identity: BearerIdentity, owner: ObjectIdentifier) {
        (self.owner, self.token, self.identity) = (owner, token, identity)
    }
}

extension Exchange {
    /// Whether the client's `Authorization` stays behind: `pass_access_token` forwards the
    /// session's access token in its place (or none), or it carries an API key, which only the proxy may see. An
    /// identity provider's token is forwarded as received.
    public var dropsAuthorization: Bool {
        if accessToken != nil || carriesAPIKey { return true }
        if passesAccessToken && credential == nil && session != nil { return true }
        if case .apiKey? = credential { return true }
        return false
    }
}

// The identity provider's bearer tokens: verified once, then answered from the provider's
// cache until they expire (``SingleSignOn/bearerVerdictNow(_:now:)``).
extension ProxyPolicy {
    /// The verdict on `token` without waiting, when the provider knows it already. `memo`: the
    /// connection's last valid token, answered without hashing it again (a client sends the same
    /// token request after request; a valid token stays valid until its `exp`, nothing ends it
    /// sooner).
    public func bearerVerdictNow(_ token: String, memo: BearerMemo? = nil) -> BearerVerdict? {
        guard let signOn else { return .invalid("no login.oidc provider") }
        let now = signOn.clock.now()
        if let memo, memo.owner == ObjectIdentifier(self), let identity = memo.identity, memo.token == token {
            return identity.expiresAt > now ? .valid(identity) : .invalid("token expired (exp)")
        }
        let verdict = signOn.provider.bearerVerdictNow(token, now: now)
        if let memo, case .valid(let identity)? = verdict { memo.remember(token, identity, owner: ObjectIdentifier(self)) }
        return verdict
    }

    /// Verifies `token` (fetching the provider's keys when needed).
    public func verifyBearer(_ token: String) async -> BearerVerdict {
        guard let signOn else { return .invalid("no login.oidc provider") }
        return await signOn.provider.verifyBearer(token, now: signOn.clock.now())
    }

    /// Phase 2's outcome for a bearer token: its identity stands in for a session (no session
    /// is created), a refusal is 401 in phase 3, and a provider that cannot be reached is the
    /// returned 502 (the token could not be checked: never forwarded unchecked).
    public func admitBearer(_ verdict: BearerVerdict, exchange: inout Exchange) -> ProxyError? {
        switch verdict {
        case .valid(let identity):
            let now = signOn?.clock.now() ?? identity.expiresAt
            exchange.session = Session(
                handle: identity.handle, attributes: identity.attributes, createdAt: now, lastSeenAt: now, expiresAt: identity.expiresAt)
            return nil
        case .invalid(let reason):
            logger.info("bearer token refused", metadata: ["request_id": "\(exchange.requestID)", "reason": "\(reason)"])
            exchange.credentialRefused = true
            return nil
        case .providerUnavailable:
            return ProxyError(.identityProviderUnavailable, "the identity provider's keys could not be fetched")
        }
    }
}
