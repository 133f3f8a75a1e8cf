/// `identity.assertion`: a short-lived ES256 JWT on every forwarded request with a session, so
/// a backend can check who is calling without trusting the network (SPEC "Signed identity
/// assertion").
///
/// Invariants (checked by the loader): `header` is a valid field name that is not one of the
/// identity headers, a framing field or a field the proxy sets itself; `ttl` is a whole number
/// of seconds from 1s to ``maximumTTL``; `signingKeys` is empty only with the memory store.
public struct AssertionSettings: Sendable, Equatable {
    /// The longest `ttl` accepted: a stolen token must not outlive a short window.
    public static let maximumTTL: Duration = .seconds(3600)
    /// Where every listener, the admin one included, publishes the keys (with or without the
    /// assertion configured): no other endpoint of the proxy's may take it.
    public static let keysPath = "/.well-known/cloakroom/jwks.json"

    /// The upstream request field that carries the token. Always stripped from client requests.
    public var header: String = "X-Cloakroom-Assertion"
    /// The token's lifetime: `exp` is `iat` + `ttl`.
    public var ttl: Duration = .seconds(120)
    /// Paths of PEM EC P-256 private keys, as written. The first signs; all are published. Empty
    /// (memory store only): the server makes a key at start.
    public var signingKeys: [String] = []
    /// The `iss` claim.
    public var issuer: String = "cloakroom"

    public init() {}

    /// `ttl` in whole seconds, as JWT times count.
    public var ttlSeconds: Int { Int(ttl.components.seconds) }
}

extension IdentitySettings {
    /// The identity settings with the assertion's header added to `strip`, as a pattern without
    /// `*` (which matches exactly that name, in every spelling `strip` patterns match): the
    /// client's copy is removed by the same rule as every identity header. The default name is
    /// stripped all the same, with the assertion off or renamed: a token captured while it was
    /// on under that name must not reach a backend that still checks it.
    public var strippingAssertionHeader: IdentitySettings {
        var settings = self
        let defaultName = AssertionSettings().header
        settings.strip.append(defaultName)
        if let header = assertion?.header, header.lowercased() != defaultName.lowercased() { settings.strip.append(header) }
        return settings
    }
}
