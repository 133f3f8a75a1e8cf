import CloakroomConfig
import CloakroomLogin
import CloakroomSessions
import HTTPTypes
import Logging
import Synchronization

import struct Foundation.Date

/// The endpoints and request-path steps of single sign-on, on top of a ``SingleSignOn``
/// implementation and a ``ProviderSessionStore``: starting a login, the callback, back-channel
/// logout, the RP-initiated logout redirect, and the access token for `pass_access_token`.
///
/// Every refusal is logged with its reason (never a token, a code or a cookie) and answered
/// 401 `login_failed` (a page for browsers); an unreachable provider is 502
/// `identity_provider_unavailable`.
public final class SignOnFlow: Sendable {
    public let provider: any SingleSignOn
    let store: any ProviderSessionStore
    /// The store's in-memory reading of private parts, when it has one.
    let immediateSecrets: (any ImmediateSecretsLookup)?
    let cookies: SessionCookies
    let cookieSettings: CookieSettings
    let logoutRedirect: String
    let loginPath: String
    let refresher: TokenRefresher
    let clock: any WallClock
    let logger: Logger
    /// The pending-login cookies' name: the session cookie's with `_oidc`, then `_` and one of
    /// ``pendingSlots`` numbers (``nextPendingCookieName(held:)``), one cookie per login. A
    /// `__Host-` prefix becomes `__Secure-` (Secure still required). The proxy takes them out of
    /// every forwarded `Cookie` (SPEC: the proxy's own cookie is not forwarded).
    let pendingName: String
    /// Read on every request (phase 1 and 3): kept here, not derived from the settings each time.
    public let callbackPath: String
    public let backchannelLogoutPath: String
    public let passAccessToken: Bool
    /// The slot a pending login takes when the browser holds them all (``nextPendingCookieName(held:)``).
    let pendingSlot = Atomic<Int>(0)

    public init(
        provider: any SingleSignOn, store: any ProviderSessionStore, cookies: SessionCookies, configuration: Configuration,
        clock: any WallClock, logger: Logger
    ) {
        self.provider = provider
        self.store = store
        self.immediateSecrets = store as? any ImmediateSecretsLookup
        self.cookies = cookies
        self.cookieSettings = configuration.session.cookie
        self.logoutRedirect = configuration.logout.redirect
        self.loginPath = configuration.login.path
        self.clock = clock
        self.logger = logger
        self.pendingName = cookies.pendingLoginName
        let settings = provider.settings
        self.callbackPath = settings.callbackPath
        self.backchannelLogoutPath = settings.backchannelLogoutPath
        self.passAccessToken = settings.passAccessToken
        self.refresher = TokenRefresher(provider: provider, store: store, clock: clock, logger: logger)
    }

    var settings: OIDCSettings { provider.settings }

    // MARK: Login

    /// `GET login.path`: 303 to the provider with a fresh pending login in its cookie.
    func beginLogin(_ exchange: Exchange) async -> LocalResponse {
        let next = RedirectTarget.sanitize(RequestPathQuery.value("next", in: exchange.target))
        switch await provider.beginLogin(next: next) {
        case .success(let (location, state, cookieValue)):
            var response = LocalResponse.redirect(to: location, requestID: exchange.requestID)
            let cookie = pendingCookie(cookieValue, name: nextPendingCookieName(held: exchange.heldPendingSlots), exchange: exchange)
            response.head.headerFields.append(HTTPField(name: .setCookie, value: cookie))
            return response
        case .failure(let failure):
            return answer(failure, exchange: exchange)
        }
    }

    /// The callback: completes the login, ends any presented session, creates the new one with
    /// the provider's tokens in its private part, and sends the browser to `next`.
    func completeLogin(_ exchange: Exchange) async -> LocalResponse {
        let query = exchange.target.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        let store = self.store
        // The state's replay check is a store write: its failure is the store's (503), not the
        // provider's, though the provider reports it.
        let storeFailed = Mutex(false)
        let result = await provider.completeLogin(query: query, cookieValue: exchange.pendingLogin) { token, until in
            do {
                return try await store.firstUse(of: token, until: until)
            } catch {
                storeFailed.withLock { $0 = true }
                throw error
            }
        }
        switch result {
        case .failure(let failure) where storeFailed.withLock({ $0 }):
            logger.error("session store failed during single sign-on", metadata: ["request_id": "\(exchange.requestID)", "error": "\(failure)"])
            // The pending login stays: nothing of it was used, and the callback can be retried.
            return ProxyError(.storeUnavailable, "\(failure)").response(requestID: exchange.requestID)
        case .failure(let failure):
            // A callback whose state matched no cookie (forged, or another tab's) leaves the
            // browser's pending logins alone: it cannot abort a sign-in under way.
            var response = answer(failure, exchange: exchange)
            expirePendingCookies(&response, exchange: exchange)
            return response
        case .success(let login):
            do {
                if let replacing = exchange.presentedID?.key, try await store.revoke(key: replacing) {
                    SessionMetrics.sessionsEnded(1, reason: .login)
                }
                let id = SessionID.random()
                let session = try await store.create(key: id.key, attributes: login.attributes, secrets: login.secrets, links: login.links)
                SessionMetrics.loggedIn()
                logger.info(
                    "session created", metadata: ["request_id": "\(exchange.requestID)", "handle": "\(session.handle)", "sub": "\(session.subject)", "via": "oidc"])
                var response = LocalResponse.redirect(to: login.next, requestID: exchange.requestID)
                response.head.headerFields.append(HTTPField(name: .setCookie, value: cookies.setCookie(for: id, secureTransport: exchange.client.isSecure)))
                expirePendingCookies(&response, exchange: exchange)
                return response
            } catch {
                logger.error("session store failed during single sign-on", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
                return ProxyError(.storeUnavailable, "\(error)").response(requestID: exchange.requestID)
            }
        }
    }

    // MARK: Back-channel logout

    /// `POST backchannel_logout_path` with a form body holding `logout_token`: 200 once the
    /// linked sessions ended (also when none matched), 400 for an invalid token.
    func backchannelLogout(body: [UInt8], exchange: Exchange) async -> LocalResponse {
        let form = FormPairs.decode(String(decoding: body, as: UTF8.self)[...])
        guard let token = form.first(where: { $0.0 == "logout_token" })?.1, !token.isEmpty else {
            logger.warning("back-channel logout refused", metadata: ["request_id": "\(exchange.requestID)", "reason": "no logout_token"])
            return Self.backchannelError(exchange)
        }
        switch await provider.verifyLogoutToken(token) {
        case .failure(.unavailable(let why)):
            logger.warning("back-channel logout: provider unavailable", metadata: ["request_id": "\(exchange.requestID)", "error": "\(why)"])
            return ProxyError(.identityProviderUnavailable, why).response(requestID: exchange.requestID)
        case .failure(.refused(let why)):
            logger.warning("back-channel logout refused", metadata: ["request_id": "\(exchange.requestID)", "reason": "\(why)"])
            return Self.backchannelError(exchange)
        case .success(let logout):
            do {
                guard try await store.firstUse(of: "oidc-jti:" + logout.jti, until: logout.until) else {
                    logger.warning("back-channel logout refused", metadata: ["request_id": "\(exchange.requestID)", "reason": "jti already used"])
                    return Self.backchannelError(exchange)
                }
                var ended = 0
                for link in logout.links { ended += try await store.revokeAll(link: link) }
                SessionMetrics.sessionsEnded(ended, reason: .idp)
                logger.info("sessions ended by the identity provider", metadata: ["request_id": "\(exchange.requestID)", "count": "\(ended)"])
                var response = LocalResponse.empty(status: .ok, requestID: exchange.requestID)
                response.head.headerFields[.cacheControl] = "no-store"
                return response
            } catch {
                logger.error("session store failed during back-channel logout", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
                return ProxyError(.storeUnavailable, "\(error)").response(requestID: exchange.requestID)
            }
        }
    }

    static func backchannelError(_ exchange: Exchange) -> LocalResponse {
        LocalResponse.json(status: .badRequest, body: "{\"error\":\"invalid_request\"}", requestID: exchange.requestID)
    }

    // MARK: Logout

    /// The private part of the session about to be logged out, for the end-session redirect.
    func secretsBeforeLogout(_ exchange: Exchange) async -> JSONObject? {
        guard settings.endSession, exchange.acceptsHTML, let key = exchange.presentedID?.key else { return nil }
        return try? await store.secrets(key: key)
    }

    /// Where a browser goes after logging out: the provider's end-session endpoint, with
    /// `post_logout_redirect_uri` = `logout.redirect` resolved against the callback's origin.
    func endSessionLocation(secrets: JSONObject?) -> String? {
        guard let secrets, !secrets.isEmpty else { return nil }
        let redirect = logoutRedirect.hasPrefix("/") ? settings.redirectOrigin + logoutRedirect : logoutRedirect
        return provider.endSessionLocation(secrets: secrets, postLogoutRedirect: redirect)
    }

    // MARK: Answers

    /// 502 for an unreachable provider; 401 `login_failed` for a refusal; a page for browsers.
    func answer(_ failure: SignOnFailure, exchange: Exchange) -> LocalResponse {
        switch failure {
        case .unavailable(let why):
            logger.warning("identity provider unavailable", metadata: ["request_id": "\(exchange.requestID)", "error": "\(why)"])
            return providerUnavailable(why, exchange: exchange)
        case .refused(let why):
            logger.warning("single sign-on refused", metadata: ["request_id": "\(exchange.requestID)", "reason": "\(why)"])
            return loginFailed(exchange)
        }
    }

    func loginFailed(_ exchange: Exchange) -> LocalResponse {
        guard exchange.acceptsHTML else { return ProxyError(.loginFailed).response(requestID: exchange.requestID) }
        return page(.failed, status: .unauthorized, exchange: exchange)
    }

    /// 502 `identity_provider_unavailable` (`why` goes to the log only), a page for browsers.
    func providerUnavailable(_ why: String, exchange: Exchange) -> LocalResponse {
        guard exchange.acceptsHTML else {
            return ProxyError(.identityProviderUnavailable, why).response(requestID: exchange.requestID)
        }
        var response = page(.providerUnavailable, status: .badGateway, exchange: exchange)
        response.failure = .identityProviderUnavailable
        return response
    }

    private func page(_ kind: SignInProblemPage.Kind, status: HTTPResponse.Status, exchange: Exchange) -> LocalResponse {
        let retry = loginPath.hasPrefix("/") ? loginPath : "/"
        let html = SignInProblemPage.render(kind, retryPath: retry, requestID: exchange.requestID)
        return .page(status: status, html: html, contentSecurityPolicy: ForbiddenPage.contentSecurityPolicy, requestID: exchange.requestID)
    }
}

/// `application/x-www-form-urlencoded` pairs.
enum FormPairs {
    static func decode(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func unescape(_ raw: Substring) -> String {
                let spaced = raw.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (unescape(parts[0]), parts.count > 1 ? unescape(parts[1]) : "")
        }
    }
}

import Foundation
