import CloakroomSessions

/// The store context of an exchange (``SessionRequestContext``): where sessions it creates come
/// from, how many a user may keep, and why sessions it ends end.
extension ProxyPolicy {
    /// The context for the store work of `exchange`. `reason` names why sessions end in it;
    /// without one, the endpoint says: the logout endpoint logs out, the login endpoints replace
    /// a presented session (`login`), a back-channel logout is the provider's (`idp`), the
    /// self-service page is the user's (`self`), and the only ending a proxied request's own
    /// store work can cause is a refused token refresh (`refresh_failed`). Effects of a
    /// backend's control headers name their reasons themselves (``apply(_:exchange:)``).
    public func sessionContext(for exchange: Exchange, reason: SessionEndReason? = nil) -> SessionRequestContext {
        SessionRequestContext(
            requestID: exchange.requestID, origin: exchange.sessionOrigin, endReason: reason ?? Self.endReason(of: exchange.endpoint),
            maxPerUser: configuration.session.maxPerUser)
    }

    static func endReason(of endpoint: Exchange.Endpoint) -> SessionEndReason? {
        switch endpoint {
        case .logout: .logout
        case .login, .builtinLogin, .signOnCallback: .login
        case .backchannelLogout: .idp
        case .selfService: .selfService
        case .proxied: .refreshFailed
        case .signOnStart, .jwks, .preflight, .directoryRedirect: nil
        }
    }
}
