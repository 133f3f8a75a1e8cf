/// ``ProxyPolicy/filterResponse(_:exchange:)``'s rule for one response field, decided on the
/// name's bytes (any case), for a server that forwards an HTTP/1.1 response head without
/// building an `HTTPResponse` from it.
///
/// It covers fields by name only: a head with a `control` field (session effects to apply) or
/// a `Connection` field naming other fields must go through `filterResponse` itself.
public enum ResponseFieldRule: Equatable, Sendable {
    /// Forwarded as it came.
    case forward
    /// Never forwarded: hop-by-hop (RFC 9110 §7.6.1), or `X-Request-Id` (the proxy sets its own).
    case remove
    /// `Session-Login`, `Session-Update`, `Session-Logout`: a session effect.
    case control

    @inlinable
    public static func of<Bytes: Collection<UInt8>>(name: Bytes) -> ResponseFieldRule {
        switch name.count {
        case 2: return ASCIIText.equalsIgnoringCase(name, "te") ? .remove : .forward
        case 7:
            return ASCIIText.equalsIgnoringCase(name, "trailer") || ASCIIText.equalsIgnoringCase(name, "upgrade") ? .remove : .forward
        case 10:
            return ASCIIText.equalsIgnoringCase(name, "connection") || ASCIIText.equalsIgnoringCase(name, "keep-alive") ? .remove : .forward
        case 12: return ASCIIText.equalsIgnoringCase(name, "x-request-id") ? .remove : .forward
        case 13: return ASCIIText.equalsIgnoringCase(name, "session-login") ? .control : .forward
        case 14:
            return ASCIIText.equalsIgnoringCase(name, "session-update") || ASCIIText.equalsIgnoringCase(name, "session-logout")
                ? .control : .forward
        case 16: return ASCIIText.equalsIgnoringCase(name, "proxy-connection") ? .remove : .forward
        case 17: return ASCIIText.equalsIgnoringCase(name, "transfer-encoding") ? .remove : .forward
        case 18: return ASCIIText.equalsIgnoringCase(name, "proxy-authenticate") ? .remove : .forward
        case 19: return ASCIIText.equalsIgnoringCase(name, "proxy-authorization") ? .remove : .forward
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
