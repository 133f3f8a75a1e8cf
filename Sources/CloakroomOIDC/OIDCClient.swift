import CloakroomConfig
import CloakroomJOSE
import CloakroomSessions
import Logging

import class Foundation.JSONDecoder
import struct Foundation.Data
import struct Foundation.Date

/// The OpenID Connect relying party: starts the authorization code flow with PKCE, completes it
/// (code exchange, ID token verification, claims), refreshes tokens, verifies back-channel
/// logout tokens and builds the RP-initiated logout URL. Knows nothing of HTTP servers or
/// sessions: the proxy calls it and stores what it returns.
public final class OIDCClient: Sendable {
    public let settings: OIDCSettings
    public let directory: ProviderDirectory
    let http: ProviderHTTP
    let seal: PendingLoginSeal
    /// Seals the tokens a session keeps in its private part.
    public let tokenSeal: TokenSeal
    let verifier: TokenVerifier
    let claimsMapping: ClaimsMapping
    /// The provider's access tokens as bearer credentials; `nil` without `bearer_audience`.
    public let bearerTokens: BearerTokens?
    let now: @Sendable () -> Date
    public let logger: Logger

    /// The back-channel logout event (OIDC Back-Channel Logout 1.0 §2.4).
    public static let logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

    public init(
        settings: OIDCSettings, http: ProviderHTTP, secrets: [[UInt8]], logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.settings = settings
        self.http = http
        self.seal = PendingLoginSeal(secrets: secrets)
        self.tokenSeal = TokenSeal(secrets: secrets)
        self.now = now
        self.logger = logger
        let directory = ProviderDirectory(issuer: settings.issuer, http: http, logger: logger)
        self.directory = directory
        let keys = ProviderKeySet(now: now) { [directory, http] in
            let metadata = try await directory.metadata()
            let response = try await http.get(metadata.jwksURI)
            guard response.status == 200 else { throw OIDCFailure.unavailable("jwks_uri answered \(response.status)") }
            return response.body
        }
        self.verifier = TokenVerifier(issuer: settings.issuer, audience: settings.clientID, keys: keys)
        self.claimsMapping = ClaimsMapping(settings.claims)
        self.bearerTokens = settings.bearerAudience.map {
            BearerTokens(issuer: settings.issuer, audience: $0, claims: settings.claims, keys: keys)
        }
    }

    /// Starts discovery in the background.
    public func start() { directory.start() }

    public func shutdown() async {
        directory.stop()
        await http.shutdown()
    }

    // MARK: Login

    /// Where to send the browser, the login's `state`, and the sealed pending login for its cookie.
    public func authorizationRedirect(next: String) async throws(OIDCFailure) -> (location: String, state: String, cookieValue: String) {
        let metadata = try await directory.metadata()
        let pending = PendingLogin.make(next: next, now: now())
        var parameters = [
            ("response_type", "code"), ("client_id", settings.clientID), ("redirect_uri", settings.redirectURL),
            ("scope", settings.scopes.joined(separator: " ")), ("state", pending.state), ("nonce", pending.nonce),
            ("code_challenge", pending.codeChallenge), ("code_challenge_method", "S256"),
        ]
        // OIDC Core §11: a request for offline_access (a refresh token) must ask for consent.
        if settings.scopes.contains("offline_access") { parameters.append(("prompt", "consent")) }
        let query = FormEncoding.encode(parameters)
        let separator = metadata.authorizationEndpoint.contains("?") ? "&" : "?"
        return (metadata.authorizationEndpoint + separator + query, pending.state, seal.seal(pending))
    }

    /// The `state` sealed in a pending-login cookie value, `nil` when it is not ours or expired.
    public func pendingState(_ cookieValue: String, now: Date) -> String? {
        seal.open(cookieValue, now: now)?.state
    }

    /// Completes the flow from the callback's query and the pending-login cookie. `firstUse`
    /// is the store's replay guard: a `state` is accepted once.
    public func finishLogin(
        query: Substring, cookieValue: String?, firstUse: @Sendable (String, Date) async throws -> Bool
    ) async throws(OIDCFailure) -> CompletedLogin {
        let parameters = FormEncoding.decode(query)
        func parameter(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
        guard let cookieValue, let pending = seal.open(cookieValue, now: now()) else {
            throw .refused("no pending login for this browser (cookie missing, forged or expired)")
        }
        guard let state = parameter("state"), state == pending.state else { throw .refused("state does not match this browser's login") }
        if let error = parameter("error") {
            throw .refused("provider answered error \(error.prefix(64))")
        }
        guard let code = parameter("code"), !code.isEmpty else { throw .refused("callback without code") }
        let fresh: Bool
        do {
            fresh = try await firstUse("oidc-state:" + state, Date(timeIntervalSince1970: pending.expires))
        } catch {
            throw .unavailable("session store: \(error)")
        }
        guard fresh else { throw .refused("state already used") }

        let metadata = try await directory.metadata()
        let grant = try await tokenRequest(
            metadata, [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", settings.redirectURL), ("code_verifier", pending.verifier)])
        guard let idToken = grant.idToken else { throw .refused("token response without id_token") }
        let verified = try await verify(idToken)
        guard verified.claims.nonce == pending.nonce else { throw .refused("nonce does not match") }
        guard let subject = verified.claims.sub, !subject.isEmpty else { throw .refused("ID token without sub") }
        let idClaims = Self.object(verified.payload)
        var userinfo: JSONObject = [:]
        if claimsMapping.lacksClaims(in: idClaims), let endpoint = metadata.userinfoEndpoint, let access = grant.accessToken {
            userinfo = try await fetchUserinfo(endpoint, accessToken: access, subject: subject)
        }
        guard let attributes = claimsMapping.attributes(from: [idClaims, userinfo]) else { throw .refused(claimsMapping.subjectProblem) }
        var links = [Self.subjectLink(subject)]
        if let sid = verified.claims.sid { links.insert(Self.sessionLink(sid), at: 0) }
        return CompletedLogin(attributes: attributes, tokens: grant, links: links, next: pending.next)
    }

    public static func sessionLink(_ sid: String) -> String { "sid:" + sid }
    public static func subjectLink(_ sub: String) -> String { "sub:" + sub }

    // MARK: Refresh

    /// New tokens for `tokens`, with its refresh token. ``OIDCFailure/refused(_:)`` when the
    /// provider refuses (the session must end), ``OIDCFailure/unavailable(_:)`` when it cannot
    /// be reached (the session stays).
    public func refreshTokens(_ tokens: TokenSet) async throws(OIDCFailure) -> TokenSet {
        guard let refreshToken = tokens.refreshToken else { throw .refused("no refresh token") }
        let metadata = try await directory.metadata()
        var renewed = try await tokenRequest(metadata, [("grant_type", "refresh_token"), ("refresh_token", refreshToken)])
        if let idToken = renewed.idToken {
            // OIDC Core §12.2: a refreshed ID token is verified, and names the same user.
            let verified = try await verify(idToken)
            if let old = tokens.idToken.flatMap(Self.unverifiedSubject), verified.claims.sub != old {
                throw .refused("refreshed ID token names another sub")
            }
        } else {
            renewed.idToken = tokens.idToken
        }
        if renewed.refreshToken == nil { renewed.refreshToken = refreshToken }
        return renewed
    }

    // MARK: Back-channel logout

    /// Verifies a back-channel `logout_token`; the caller checks `jti` against its replay guard.
    public func verifyLogout(_ token: String) async throws(OIDCFailure) -> LogoutRequest {
        let verified = try await verify(token)
        let claims = verified.claims
        guard claims.events?.contains(Self.logoutEvent) == true else { throw .refused("logout token without the back-channel logout event") }
        guard claims.nonce == nil else { throw .refused("logout token carries a nonce") }
        guard claims.sub != nil || claims.sid != nil else { throw .refused("logout token without sub or sid") }
        guard let jti = claims.jti, !jti.isEmpty else { throw .refused("logout token without jti") }
        let until = Date(timeIntervalSince1970: claims.exp ?? (now().timeIntervalSince1970 + 3600))
        let links = claims.sid.map { [Self.sessionLink($0)] } ?? [Self.subjectLink(claims.sub!)]
        return LogoutRequest(links: links, jti: jti, until: until)
    }

    // MARK: RP-initiated logout

    /// The provider's end-session URL for a browser leaving, or `nil` when `end_session` is off
    /// or the provider publishes none (or is not discovered).
    public func endSessionURL(idToken: String?, postLogoutRedirect: String) -> String? {
        guard settings.endSession, let endpoint = directory.known?.endSessionEndpoint else { return nil }
        var query: [(String, String)] = []
        if let idToken { query.append(("id_token_hint", idToken)) }
        query.append(("client_id", settings.clientID))
        query.append(("post_logout_redirect_uri", postLogoutRedirect))
        return endpoint + (endpoint.contains("?") ? "&" : "?") + FormEncoding.encode(query)
    }

    // MARK: Calls

    private func verify(_ token: String) async throws(OIDCFailure) -> VerifiedToken {
        do {
            return try await verifier.verify(token, now: now())
        } catch let rejection as TokenRejection {
            if case .keysUnavailable(let why) = rejection { throw .unavailable(why) }
            throw .refused(rejection.description)
        } catch {
            throw .refused("\(error)")
        }
    }

    private func tokenRequest(_ metadata: ProviderMetadata, _ form: [(String, String)]) async throws(OIDCFailure) -> TokenSet {
        var form = form
        var basic: (String, String)?
        if let secret = settings.clientSecret, !metadata.usesPostAuthentication {
            basic = (settings.clientID, secret)
        } else {
            form.append(("client_id", settings.clientID))
            if let secret = settings.clientSecret { form.append(("client_secret", secret)) }
        }
        let response: ProviderHTTP.Response
        do {
            response = try await http.postForm(metadata.tokenEndpoint, form: form, basic: basic)
        } catch {
            throw .unavailable("\(error)")
        }
        return try Self.tokens(status: response.status, body: response.body, issued: now())
    }

    /// A token endpoint's answer read. A refusal is only the provider's own error answer
    /// (RFC 6749 §5.2: 400, or 401 for the client, with `error`), which ends a refreshing
    /// session; anything else that is no token set (a 5xx, a 429, a load balancer's HTML page,
    /// a 200 without `access_token`) is a provider that could not answer: 502, the session kept
    /// (found by an audit: an HTML 200 ended sessions as refused).
    static func tokens(status: Int, body bytes: [UInt8], issued: Date) throws(OIDCFailure) -> TokenSet {
        let body = object(bytes)
        guard status == 200 else {
            guard status == 400 || status == 401, case .string(let code)? = body["error"] else {
                throw .unavailable("token endpoint answered \(status) without an OAuth error")
            }
            throw .refused("token endpoint answered \(status) \(String(code.prefix(64)))")
        }
        func string(_ key: String) -> String? {
            if case .string(let value)? = body[key], !value.isEmpty { return value }
            return nil
        }
        guard let access = string("access_token") else { throw .unavailable("token endpoint answered 200 without an access_token") }
        var expires: Date?
        if case .number(let seconds)? = body["expires_in"], seconds > 0 { expires = issued.addingTimeInterval(seconds) }
        if case .string(let text)? = body["expires_in"], let seconds = Double(text), seconds > 0 { expires = issued.addingTimeInterval(seconds) }
        return TokenSet(idToken: string("id_token"), accessToken: access, refreshToken: string("refresh_token"), issuedAt: issued, expiresAt: expires)
    }

    private func fetchUserinfo(_ endpoint: String, accessToken: String, subject: String) async throws(OIDCFailure) -> JSONObject {
        let response: ProviderHTTP.Response
        do {
            response = try await http.get(endpoint, bearer: accessToken)
        } catch {
            throw .unavailable("\(error)")
        }
        // A 5xx or a 429 is a provider that could not answer (502, try again), as at the token endpoint.
        if response.status >= 500 || response.status == 429 { throw .unavailable("userinfo answered \(response.status)") }
        guard response.status == 200 else { throw .refused("userinfo answered \(response.status)") }
        let claims = Self.object(response.body)
        // OIDC Core §5.3.4: userinfo must be about the same user as the ID token.
        guard case .string(subject)? = claims["sub"] else { throw .refused("userinfo sub differs from the ID token's") }
        return claims
    }

    static func object(_ bytes: [UInt8]) -> JSONObject {
        (try? JSONValue.parseObject(utf8: bytes)) ?? [:]
    }

    /// The `sub` of a token this client verified before (read back from the session).
    static func unverifiedSubject(_ token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let payload = base64URLDecode(String(parts[1])) else { return nil }
        if case .string(let sub)? = object(payload)["sub"] { return sub }
        return nil
    }
}

/// A successful login: the session's attributes, the tokens for its private part, the links
/// to the provider session (`sid`) and user (`sub`), and where the browser goes next.
public struct CompletedLogin: Sendable {
    public var attributes: JSONObject
    public var tokens: TokenSet
    public var links: [String]
    public var next: String
}

/// A verified back-channel logout: end the sessions linked to `links`; remember `jti` until `until`.
public struct LogoutRequest: Sendable, Equatable {
    public var links: [String]
    public var jti: String
    public var until: Date
}
