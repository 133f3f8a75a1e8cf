import CloakroomConfig
import CloakroomLogin
import CloakroomSessions
import Dispatch
import HTTPTypes
import Logging

/// The built-in form login (`login.users_file`): the login page on GET, credentials on POST.
///
/// A wrong password and an unknown user cost the same (the unknown user is checked against a
/// dummy hash with the same parameters) and get the same 401. Password hashing runs on a
/// Dispatch queue, never on an event loop or the cooperative pool. Failures are throttled per
/// username and per client address (429 with `Retry-After`).
public final class BuiltinLogin: Sendable {
    /// Login bodies are small; anything bigger is refused (413).
    public static let maxBodyBytes = 16 * 1024

    let settings: LoginSettings
    let users: UsersFile
    let throttle: LoginThrottle
    let store: any SessionStore
    let cookies: SessionCookies
    let logger: Logger
    private static let hashing = DispatchQueue(label: "cloakroom.password-hashing", attributes: .concurrent)

    public init(
        settings: LoginSettings, users: UsersFile, store: any SessionStore, cookies: SessionCookies, clock: any WallClock,
        logger: Logger
    ) {
        self.settings = settings
        self.users = users
        self.store = store
        self.cookies = cookies
        self.logger = logger
        let limits = settings.throttle
        throttle = LoginThrottle(
            settings: .init(maxFailures: limits.maxFailures, window: limits.window, maxDelay: limits.maxDelay), clock: clock)
    }

    /// The login page (200), or with an error message (the given status).
    func page(exchange: Exchange, error: String? = nil, status: HTTPResponse.Status = .ok, username: String? = nil, next: String? = nil) -> LocalResponse {
        let nextValue = next ?? RequestPathQuery.value("next", in: exchange.target)
        let sanitizedNext = nextValue.map(RedirectTarget.sanitize)
        let sso = settings.oidc.map { oidc in
            (label: oidc.name, href: settings.path + "?sso=1&next=" + ProxyPolicy.percentEncodeQueryValue(sanitizedNext ?? RedirectTarget.fallback))
        }
        let html = LoginPage.render(action: settings.path, next: sanitizedNext, error: error, username: username, singleSignOn: sso)
        // The page is self-contained: nothing may load from elsewhere, and it may not be framed.
        return .page(status: status, html: html, contentSecurityPolicy: LoginPage.contentSecurityPolicy, requestID: exchange.requestID)
    }

    /// Checks the posted credentials; on success creates a new session (ending any presented
    /// one) and redirects (303) to the sanitized `next`, else answers 400/401/429. `next` is the
    /// body's field, else the login URL's query parameter (`POST /login?next=/app`).
    public func submit(body: [UInt8], contentType: String?, exchange: Exchange) async -> LocalResponse {
        let isJSON = contentType?.lowercased().hasPrefix("application/json") ?? false
        guard let form = LoginForm.parse(body: body, contentType: contentType) else {
            return isJSON
                ? LocalResponse.json(status: .badRequest, body: "{\"error\":\"invalid_login_request\"}", requestID: exchange.requestID)
                : page(exchange: exchange, error: "Enter a username and a password.", status: .badRequest)
        }
        let next = form.next ?? RequestPathQuery.value("next", in: exchange.target).flatMap { $0.isEmpty ? nil : $0 }
        let client = exchange.client.address
        if let wait = throttle.admit(username: form.username, client: client) {
            logger.warning("login throttled", metadata: ["request_id": "\(exchange.requestID)", "user": "\(form.username)", "client": "\(client)"])
            let seconds = max(1, Int((wait.timeInterval).rounded(.up)))
            var response = isJSON
                ? ProxyError(.tooManyAttempts).response(requestID: exchange.requestID)
                : page(exchange: exchange, error: "Too many attempts. Try again in \(seconds) second\(seconds == 1 ? "" : "s").", status: .tooManyRequests, username: form.username, next: next)
            response.head.headerFields[.retryAfter] = String(seconds)
            return response
        }
        let user = users.user(named: form.username)
        let verified = await withCheckedContinuation { continuation in
            Self.hashing.async {
                if let user {
                    continuation.resume(returning: user.passwordHash.verify(form.password))
                } else {
                    PasswordHash.verifyDummy(form.password)
                    continuation.resume(returning: false)
                }
            }
        }
        guard verified, let user else {
            throttle.recordAdmittedFailure(username: form.username, client: client)
            logger.notice("login failed", metadata: ["request_id": "\(exchange.requestID)", "user": "\(form.username)", "client": "\(client)"])
            return isJSON
                ? LocalResponse.json(status: .unauthorized, body: "{\"error\":\"invalid_credentials\"}", requestID: exchange.requestID)
                : page(exchange: exchange, error: "Wrong username or password.", status: .unauthorized, username: form.username, next: next)
        }
        throttle.recordAdmittedSuccess(username: form.username, client: client)
        do {
            if let presented = exchange.presentedID?.key, try await store.revoke(key: presented) {
                SessionMetrics.sessionsEnded(1, reason: .login)
            }
            let id = SessionID.random()
            let session = try await store.create(key: id.key, attributes: user.attributes)
            SessionMetrics.loggedIn()
            logger.info("session created by built-in login", metadata: ["request_id": "\(exchange.requestID)", "handle": "\(session.handle)", "sub": "\(session.subject)"])
            var response = LocalResponse.redirect(to: RedirectTarget.sanitize(next), requestID: exchange.requestID)
            response.head.headerFields.append(HTTPField(name: .setCookie, value: cookies.setCookie(for: id, secureTransport: exchange.client.isSecure)))
            return response
        } catch {
            logger.error("session store failed during login", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
            return ProxyError(.storeUnavailable, "\(error)").response(requestID: exchange.requestID)
        }
    }
}

/// One query parameter of a request target, percent-decoded.
enum RequestPathQuery {
    static func value(_ name: String, in target: String) -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.first == Substring(name) else { continue }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
        }
        return nil
    }
}

import Foundation
