import HTTPTypes

/// Which client request fields reach the backend, decided on a field's name alone. It is the
/// rule ``ProxyPolicy/prepareUpstreamRequest(_:exchange:injectionMemo:)`` applies to the
/// request's fields, returned by it so that a server carrying some fields as raw HTTP/1.1 lines
/// (never made into swift-http-types values, see ``PolicyRequestFields``)
/// applies the very same rule to those.
///
/// A field is dropped when it is hop-by-hop or named in `Connection`, a copy of an identity
/// header (or matches `identity.strip`), or a forwarding header the proxy sets itself. Names
/// compare in any ASCII case; identity and forwarding names also in every alias spelling
/// (``FoldedName``: any separator for any other, `X_User_Id`, `X.User.Id`), which backends
/// merge with the dashed one.
public struct RequestFieldFilter: Sendable {
    /// The policy's identity rules, through the policy: one reference to copy, not three arrays.
    let policy: ProxyPolicy
    /// Lower case: the fields the request's `Connection` fields name (``HopByHop/connectionOptions(in:)``),
    /// nil when none (nearly always: nothing to retain when the filter is copied).
    let connectionOptions: [String]?
    /// `pass_access_token`: the client's own `Authorization` is replaced by the session's token.
    let dropsAuthorization: Bool

    init(policy: ProxyPolicy, connectionOptions: [String], dropsAuthorization: Bool = false) {
        self.policy = policy
        self.connectionOptions = connectionOptions.isEmpty ? nil : connectionOptions
        self.dropsAuthorization = dropsAuthorization
    }

    /// Whether the field named by these bytes (a token, any case) never reaches the backend.
    public func drops(name: UnsafeRawBufferPointer) -> Bool {
        if HopByHop.isHopByHop(name: name) { return true }
        if dropsAuthorization && name.count == 13 && ASCIIText.equalsIgnoringCase(name, "authorization") { return true }
        if let connectionOptions {
            for option in connectionOptions where ASCIIText.equalsIgnoringCase(name, lowercase: option) { return true }
        }
        return FoldedName.with(name) { folded in
            Self.isReplacedOnForward(folded: folded) || policy.identity.isStripped(folded: folded)
        }
    }

    /// Whether a raw field line with this name is left out of the upstream head: what
    /// ``drops(name:)`` drops, and every `Cookie` line. A server carrying `Cookie` raw takes
    /// the session cookie out itself (``ProxyPolicy/begin(_:client:requestID:cookieMemo:cookie:)``
    /// with ``PresentedCookie/taken(_:)``) when the line holds it alone, and otherwise makes the
    /// lines fields for the policy to take it from: either way the line itself never goes on.
    public func dropsLine(name: UnsafeRawBufferPointer) -> Bool {
        PolicyRequestFields.isCookie(name: name) || drops(name: name)
    }

    public func drops(_ name: HTTPField.Name) -> Bool {
        var canonical = name.canonicalName
        return canonical.withUTF8 { drops(name: UnsafeRawBufferPointer($0)) }
    }

    /// Client headers the proxy sets itself, compared folded, and the other spellings of what
    /// they say that backends read: the scheme (`X-Forwarded-Ssl: on` is https to Rack,
    /// `X-Forwarded-Scheme`, `-Protocol`, `Front-End-Https`, `X-Url-Scheme`), the prefix
    /// (`X-Forwarded-Prefix`, read by Spring and Werkzeug's ProxyFix), the client's address
    /// (`True-Client-IP`, `X-Client-IP`, `X-Cluster-Client-IP`), the proxy (`X-Forwarded-Server`)
    /// and the URL (`X-Original-URL`, `X-Rewrite-URL`, which Symfony and IIS take over the
    /// request line): a client must not be able to claim them (found by an audit). `Expect` is answered by the proxy;
    /// `Content-Length` (with `Transfer-Encoding`, hop-by-hop) is written by the server from the
    /// framing it decides for the upstream request, never copied from the client. The
    /// hop-by-hop names' aliases too (`Transfer_Encoding`, `Keep.Alive`): a backend that merges
    /// them with the dashed name would read framing or connection options the proxy never
    /// decided (the dashed names themselves are ``HopByHop``'s).
    static func isReplacedOnForward(folded name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return ASCIIText.equalsIgnoringCase(name, "te")
        case 6: return ASCIIText.equalsIgnoringCase(name, "expect")
        case 7: return ASCIIText.equalsIgnoringCase(name, "upgrade") || ASCIIText.equalsIgnoringCase(name, "trailer")
        case 9: return ASCIIText.equalsIgnoringCase(name, "forwarded") || ASCIIText.equalsIgnoringCase(name, "x-real-ip")
        case 10: return ASCIIText.equalsIgnoringCase(name, "connection") || ASCIIText.equalsIgnoringCase(name, "keep-alive")
        case 11: return ASCIIText.equalsIgnoringCase(name, "x-client-ip")
        case 12: return ASCIIText.equalsIgnoringCase(name, "x-request-id") || ASCIIText.equalsIgnoringCase(name, "x-url-scheme")
        case 13: return ASCIIText.equalsIgnoringCase(name, "x-rewrite-url")
        case 14:
            return ASCIIText.equalsIgnoringCase(name, "content-length") || ASCIIText.equalsIgnoringCase(name, "http2-settings")
                || ASCIIText.equalsIgnoringCase(name, "true-client-ip") || ASCIIText.equalsIgnoringCase(name, "x-original-url")
        case 15:
            return ASCIIText.equalsIgnoringCase(name, "x-forwarded-for") || ASCIIText.equalsIgnoringCase(name, "x-forwarded-ssl")
                || ASCIIText.equalsIgnoringCase(name, "front-end-https")
        case 16:
            return ASCIIText.equalsIgnoringCase(name, "x-forwarded-host") || ASCIIText.equalsIgnoringCase(name, "x-forwarded-port")
                || ASCIIText.equalsIgnoringCase(name, "proxy-connection")
        case 17: return ASCIIText.equalsIgnoringCase(name, "x-forwarded-proto") || ASCIIText.equalsIgnoringCase(name, "transfer-encoding")
        case 18:
            return ASCIIText.equalsIgnoringCase(name, "x-forwarded-prefix") || ASCIIText.equalsIgnoringCase(name, "x-forwarded-scheme")
                || ASCIIText.equalsIgnoringCase(name, "x-forwarded-server")
        case 19: return ASCIIText.equalsIgnoringCase(name, "x-cluster-client-ip")
        case 20: return ASCIIText.equalsIgnoringCase(name, "x-forwarded-protocol")
        default: return false
        }
    }
}

/// A field name in its alias form: ASCII letters in lower case, digits as they are, and every
/// other byte (`-`, `_`, `.`, `~`, `!`, any token character that is not a letter or a digit) as
/// `-`. Two names with the same folded form are aliases: they differ only in case and in which
/// separator stands at each position, and some backend stack reads them as the same header.
///
/// Why every separator: CGI and WSGI servers (and Rack, Go's `net/http/cgi`) expose `X-User-Id`
/// as `HTTP_X_USER_ID`, so `X_User_Id` lands in the same variable; PHP turns `.` and spaces in
/// variable names into `_`, so `X.User.Id` does too; lighttpd, some CGI libraries and Java and
/// Node header maps that normalise names map every byte that is not a letter or a digit to `_`.
/// Separators are replaced one for one, never collapsed or dropped: no stack known to us reads
/// `X--User-Id` or `XUserId` as `X-User-Id`, and folding those too would strip unrelated
/// headers (`X-Username` under a `X-User-*` pattern).
enum FoldedName {
    /// Calls `body` with `name` folded, in temporary (stack) memory: nothing allocated.
    @inline(__always)
    static func with<Result>(_ name: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeTemporaryAllocation(byteCount: name.count, alignment: 1) { buffer in
            for index in 0..<name.count { buffer[index] = fold(name[index]) }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// One byte of a field name, folded: `A`–`Z` to lower case, `a`–`z` and `0`–`9` kept,
    /// anything else `-`.
    @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte | 0x20
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return byte
        default: return UInt8(ascii: "-")
        }
    }

    /// A configured name folded (``fold(_:)``).
    static func fold(_ name: String) -> [UInt8] {
        name.utf8.map(fold)
    }

    /// An `identity.strip` pattern folded: like a name, with `*` kept as the wildcard. A `*` in
    /// a client's field name is a separator like any other, so it folds to `-` and never acts
    /// as a wildcard.
    static func foldPattern(_ pattern: String) -> [UInt8] {
        pattern.utf8.map { $0 == UInt8(ascii: "*") ? $0 : fold($0) }
    }
}
