import HTTPTypes

/// Which client request fields reach the backend, decided on a field's name alone. It is the
/// rule ``ProxyPolicy/prepareUpstreamRequest(_:exchange:injectionMemo:)`` applies to the
/// request's fields, returned by it so that a server carrying some fields as raw HTTP/1.1 lines
/// (never made into swift-http-types values, see ``PolicyRequestFields``)
/// applies the very same rule to those.
///
/// A field is dropped when it is hop-by-hop or named in `Connection`, a copy of an identity
/// header (or matches `identity.strip`), or a forwarding header the proxy sets itself. Names
/// compare in any ASCII case; identity and forwarding names also with `_` for `-`, the spelling
/// CGI-style backends merge with the dashed one.
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

    /// Client headers the proxy sets itself, compared folded. `Expect` is answered by the proxy;
    /// `Content-Length` (with `Transfer-Encoding`, hop-by-hop) is written by the server from the
    /// framing it decides for the upstream request, never copied from the client.
    static func isReplacedOnForward(folded name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 6: return ASCIIText.equalsIgnoringCase(name, "expect")
        case 14: return ASCIIText.equalsIgnoringCase(name, "content-length")
        case 9: return ASCIIText.equalsIgnoringCase(name, "forwarded") || ASCIIText.equalsIgnoringCase(name, "x-real-ip")
        case 12: return ASCIIText.equalsIgnoringCase(name, "x-request-id")
        case 15: return ASCIIText.equalsIgnoringCase(name, "x-forwarded-for")
        case 16: return ASCIIText.equalsIgnoringCase(name, "x-forwarded-host") || ASCIIText.equalsIgnoringCase(name, "x-forwarded-port")
        case 17: return ASCIIText.equalsIgnoringCase(name, "x-forwarded-proto")
        default: return false
        }
    }
}

/// A field name in lower case with `_` as `-`, the form identity and forwarding names are
/// compared in.
enum FoldedName {
    /// Calls `body` with `name` folded, in temporary (stack) memory: nothing allocated.
    @inline(__always)
    static func with<Result>(_ name: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeTemporaryAllocation(byteCount: name.count, alignment: 1) { buffer in
            for index in 0..<name.count { buffer[index] = fold(name[index]) }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        if byte == UInt8(ascii: "_") { return UInt8(ascii: "-") }
        return byte >= 65 && byte <= 90 ? byte + 32 : byte
    }
}
