import CloakroomSessions

import struct Foundation.Date

/// The provider's tokens as kept in a session's private part (``ProviderSessionStore``): never
/// an attribute, so never a header, a log line or an admin API field.
public struct TokenSet: Sendable, Equatable {
    public var idToken: String?
    public var accessToken: String?
    public var refreshToken: String?
    /// When the access token was obtained and when it expires (`expires_in`); `nil` when the
    /// provider did not say: such a token is used until the provider refuses it.
    public var issuedAt: Date?
    public var expiresAt: Date?

    public init(idToken: String?, accessToken: String?, refreshToken: String?, issuedAt: Date?, expiresAt: Date?) {
        self.idToken = idToken
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    public init(secrets: JSONObject) {
        func string(_ key: String) -> String? {
            if case .string(let value)? = secrets[key] { return value }
            return nil
        }
        func date(_ key: String) -> Date? {
            if case .number(let value)? = secrets[key] { return Date(timeIntervalSince1970: value) }
            return nil
        }
        self.init(
            idToken: string("id_token"), accessToken: string("access_token"), refreshToken: string("refresh_token"),
            issuedAt: date("issued_at"), expiresAt: date("expires_at"))
    }

    public var secrets: JSONObject {
        var object: JSONObject = [:]
        if let idToken { object["id_token"] = .string(idToken) }
        if let accessToken { object["access_token"] = .string(accessToken) }
        if let refreshToken { object["refresh_token"] = .string(refreshToken) }
        if let issuedAt { object["issued_at"] = .number(issuedAt.timeIntervalSince1970.rounded(.down)) }
        if let expiresAt { object["expires_at"] = .number(expiresAt.timeIntervalSince1970.rounded(.down)) }
        return object
    }

    /// Whether a request at `now` must refresh first: the access token expired, or less than a
    /// third of its lifetime (at most 60 s) is left. Without a refresh token (a provider that
    /// gives none without `offline_access`), only once it expired: the refresh then fails for
    /// want of one, and the session ends (`refresh_failed`) rather than forward a dead token
    /// until the absolute timeout (found by an audit).
    public func needsRefresh(now: Date) -> Bool {
        guard let expiresAt else { return false }
        let left = expiresAt.timeIntervalSince(now)
        guard refreshToken != nil else { return left <= 0 }
        let lifetime = issuedAt.map { expiresAt.timeIntervalSince($0) } ?? 0
        return left < min(max(lifetime, 0) / 3, 60) || left <= 0
    }

    /// Whether the access token can no longer be used at all.
    public func accessExpired(now: Date) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }
}

/// Seals a session's provider tokens for its private part, with AES-GCM under a key derived
/// from `session.secrets` (the first seals, every one opens), as the pending-login cookie is
/// sealed: a dump of the store alone (Redis, the file store's database) holds no usable token
/// (found by an audit: refresh tokens in clear in Redis would work at the provider). The proxy
/// reads them only through this seal, so the private part is opaque to every store.
public struct TokenSeal: Sendable {
    private let box: SecretBox
    /// The private part's only field once sealed.
    static let field = "sealed"

    public init(secrets: [[UInt8]]) {
        box = SecretBox(secrets: secrets, purpose: "oidc private part v1")
    }

    /// The private part for `tokens`.
    public func seal(_ tokens: TokenSet) -> JSONObject {
        [Self.field: .string(box.seal(Array(JSONValue.object(tokens.secrets).jsonText.utf8)))]
    }

    /// The tokens in a private part: sealed, or as sessions made before sealing hold them. A
    /// part no secret opens (its secret retired) holds no token.
    public func open(_ secrets: JSONObject) -> TokenSet {
        guard case .string(let sealed)? = secrets[Self.field] else { return TokenSet(secrets: secrets) }
        guard let plain = box.open(sealed), let object = try? JSONValue.parseObject(utf8: plain) else {
            return TokenSet(secrets: [:])
        }
        return TokenSet(secrets: object)
    }
}
