/// ``ProxyPolicy/filterResponse(_:exchange:)``'s rule for one response field, decided on the
/// name's bytes (any case), for a server that forwards an HTTP/1.1 response head without
/// building an `HTTPResponse` from it.
///
/// It covers fields by name only: a head with a `control` or `setCookie` field (session effects
/// to apply, a cookie to check) or a `Connection` field naming other fields must go through
/// `filterResponse` itself.
public enum ResponseFieldRule: Equatable, Sendable {
    /// Forwarded as it came.
    case forward
    /// Never forwarded: hop-by-hop (RFC 9110 §7.6.1), or `X-Request-Id` (the proxy sets its own).
    case remove
    /// `Session-Login`, `Session-Update`, `Session-Logout`: a session effect.
    case control
    /// `Set-Cookie`: forwarded unless it sets the session cookie, which only the policy knows
    /// (``SessionCookies/removeUpstreamCookies(from:)``), so the head goes through it.
    case setCookie

    /// Hop-by-hop names are ``HopByHop``'s list; the proxy's own `X-Request-Id` and the
    /// control headers are this rule's.
    @inlinable
    public static func of<Bytes: Collection<UInt8>>(name: Bytes) -> ResponseFieldRule {
        if HopByHop.isHopByHop(name: name) { return .remove }
        switch name.count {
        case 10: return ASCIIText.equalsIgnoringCase(name, "set-cookie") ? .setCookie : .forward
        case 12: return ASCIIText.equalsIgnoringCase(name, "x-request-id") ? .remove : .forward
        case 13: return ASCIIText.equalsIgnoringCase(name, "session-login") ? .control : .forward
        case 14:
            return ASCIIText.equalsIgnoringCase(name, "session-update") || ASCIIText.equalsIgnoringCase(name, "session-logout")
                ? .control : .forward
        default: return .forward
        }
    }

    /// Whether a `Connection` option is one the byte-level path handles: `keep-alive` names a
    /// field removed anyway; any other option names a field to remove, which only
    /// `filterResponse` does.
    @inlinable
    public static func isPlainConnectionOption<Bytes: Collection<UInt8>>(_ option: Bytes) -> Bool {
        ASCIIText.equalsIgnoringCase(option, "keep-alive")
    }
}
