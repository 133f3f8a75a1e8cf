import CloakroomSessions
import HTTPTypes

/// The single sign-on steps the server drives (``Authorization/signOn``,
/// ``Authorization/backchannelLogout``, ``Authorization/forwardWithAccessToken``).
extension ProxyPolicy {
    /// Logout tokens are small JWTs; a larger back-channel body is refused (413), as for the
    /// built-in login's bodies (the server collects both the same way).
    public static let backchannelMaxBodyBytes = BuiltinLogin.maxBodyBytes

    /// What to do with a request that carries the session's access token upstream.
    public enum AccessTokenStep: Sendable {
        /// Forward, with this token (`nil`: the session has none).
        case forward(String?)
        case respond(LocalResponse)
    }

    /// Starts a login or completes one at the callback.
    public func signOnAnswer(_ exchange: Exchange) async -> LocalResponse {
        guard let signOn else { return ProxyError(.notFound).response(requestID: exchange.requestID) }
        switch exchange.endpoint {
        case .signOnStart: return await signOn.beginLogin(exchange)
        case .signOnCallback: return await signOn.completeLogin(exchange)
        default: return ProxyError(.notFound).response(requestID: exchange.requestID)
        }
    }

    public func backchannelLogout(body: [UInt8], exchange: Exchange) async -> LocalResponse {
        guard let signOn else { return ProxyError(.notFound).response(requestID: exchange.requestID) }
        return await signOn.backchannelLogout(body: body, exchange: exchange)
    }

    /// The access token for a forwarded request when the store can tell at once and no refresh
    /// is due: the common case, answered on the event loop. `nil`: ask ``accessToken(for:)``.
    public func accessTokenNow(for exchange: Exchange) -> AccessTokenStep? {
        guard let signOn, let immediate = signOn.immediateSecrets, let key = exchange.presentedID?.key,
            let secrets = try? immediate.secretsNow(key: key)
        else { return nil }
        let (token, due) = signOn.provider.accessToken(in: secrets, now: signOn.clock.now())
        return due ? nil : .forward(token)
    }

    /// The access token for a forwarded request, refreshed first when due. A session whose
    /// refresh the provider refused has ended: 401, or 303 to the login page for browsers.
    public func accessToken(for exchange: Exchange) async -> AccessTokenStep {
        guard let signOn, let key = exchange.presentedID?.key else { return .forward(nil) }
        switch await signOn.refresher.token(key: key, secrets: nil, requestID: exchange.requestID) {
        case .token(let token):
            return .forward(token)
        case .unavailable(let why):
            return .respond(signOn.providerUnavailable(why, exchange: exchange))
        case .storeFailed(let why):
            return .respond(ProxyError(.storeUnavailable, why).response(requestID: exchange.requestID))
        case .sessionEnded:
            var ended = exchange
            ended.session = nil
            var response: LocalResponse
            if case .respond(let refusal) = authorize(ended) {
                response = refusal
            } else {
                response = ProxyError(.unauthenticated).response(requestID: exchange.requestID)
            }
            // The refusal of a request that presented a cookie carries the deletion already.
            if !response.head.headerFields.contains(where: { $0.name == .setCookie }) {
                response.head.headerFields.append(HTTPField(name: .setCookie, value: cookies.expireCookie(secureTransport: exchange.client.isSecure)))
            }
            return .respond(response)
        }
    }
}
