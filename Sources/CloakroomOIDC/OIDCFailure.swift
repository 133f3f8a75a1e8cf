/// Why a single sign-on step did not succeed, in the two kinds the proxy answers differently.
public enum OIDCFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The provider could not be reached (or discovery has not succeeded yet): 502
    /// `identity_provider_unavailable`, nothing changes.
    case unavailable(String)
    /// The provider or the proxy refused: a wrong or replayed `state`, an error answer, a token
    /// that fails verification, a refresh the provider refuses. 401 `login_failed`. The reason
    /// is for the log; it never holds a token, a code or a cookie.
    case refused(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "identity provider unavailable: \(why)"
        case .refused(let why): return "refused: \(why)"
        }
    }
}
