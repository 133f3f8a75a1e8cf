import CloakroomConfig
import CloakroomSessions

import struct Foundation.Date

/// What the request phases need from an OpenID Connect relying party. The server wires in the
/// implementation (CloakroomOIDC's client), so this target never links an HTTP client or JOSE.
///
/// Secrets are a session's private part (``ProviderSessionStore``): opaque here, read and
/// written only by the implementation.
public protocol SingleSignOn: Sendable {
    var settings: OIDCSettings { get }
    /// The provider's authorization URL for a new login, its `state`, and the sealed
    /// pending-login value for the browser's cookie.
    func beginLogin(next: String) async -> Result<(location: String, state: String, cookieValue: String), SignOnFailure>
    /// The `state` of the pending login sealed in a pending-login cookie's value, or `nil` when
    /// the value was not sealed by this proxy or has expired: how a callback finds its cookie.
    func pendingLoginState(_ cookieValue: String, now: Date) -> String?
    /// Completes the flow from the callback query and the pending-login cookie.
    func completeLogin(
        query: Substring, cookieValue: String?, firstUse: @escaping @Sendable (String, Date) async throws -> Bool
    ) async -> Result<SignedOn, SignOnFailure>
    /// The access token in `secrets`, and whether it must be refreshed before use at `now`.
    func accessToken(in secrets: JSONObject, now: Date) -> (token: String?, refreshDue: Bool)
    /// New secrets after a refresh.
    func refresh(_ secrets: JSONObject) async -> Result<JSONObject, SignOnFailure>
    /// A verified back-channel `logout_token`.
    func verifyLogoutToken(_ token: String) async -> Result<ProviderLogout, SignOnFailure>
    /// The provider's end-session URL for a browser leaving, or `nil`.
    func endSessionLocation(secrets: JSONObject?, postLogoutRedirect: String) -> String?
    /// The verdict on a bearer access token without waiting, when it is known: a token verified
    /// before and still unexpired (then `invalid` once past its `exp`), or one refused lately.
    /// `nil`: call ``verifyBearer(_:now:)``.
    func bearerVerdictNow(_ token: String, now: Date) -> BearerVerdict?
    /// Verifies a bearer access token (fetching the provider's keys when needed) and caches the
    /// verdict: a valid one until the token's `exp`.
    func verifyBearer(_ token: String, now: Date) async -> BearerVerdict
}

/// A bearer access token the provider signed, as the request path uses it. No session stands
/// behind it: it signs requests in until its `exp`, and nothing ends it sooner.
public struct BearerIdentity: Sendable, Equatable {
    /// The claims mapped by `login.oidc.claims`; `sub` is always there.
    public var attributes: JSONObject
    /// The token's `exp`.
    public var expiresAt: Date
    /// Stands in for a session handle (the assertion's `sid`, log lines): derived from the
    /// token's SHA-256, never the token itself.
    public var handle: String

    public init(attributes: JSONObject, expiresAt: Date, handle: String) {
        self.attributes = attributes
        self.expiresAt = expiresAt
        self.handle = handle
    }
}

/// What became of a bearer access token.
public enum BearerVerdict: Sendable, Equatable {
    case valid(BearerIdentity)
    /// 401; the reason is for the log and never holds the token.
    case invalid(String)
    /// The provider's keys could not be had (discovery not done, JWKS unreachable): 502.
    case providerUnavailable
}

/// A single sign-on step that failed: ``unavailable`` → 502, ``refused`` → 401 (400 for a
/// back-channel logout). The text is for the log.
public enum SignOnFailure: Error, Sendable, Equatable {
    case unavailable(String)
    case refused(String)
}

/// A completed login through the provider.
public struct SignedOn: Sendable {
    public var attributes: JSONObject
    public var secrets: JSONObject
    public var links: [String]
    public var next: String
    public init(attributes: JSONObject, secrets: JSONObject, links: [String], next: String) {
        self.attributes = attributes
        self.secrets = secrets
        self.links = links
        self.next = next
    }
}

/// A verified back-channel logout.
public struct ProviderLogout: Sendable {
    public var links: [String]
    public var jti: String
    public var until: Date
    public init(links: [String], jti: String, until: Date) {
        self.links = links
        self.jti = jti
        self.until = until
    }
}
