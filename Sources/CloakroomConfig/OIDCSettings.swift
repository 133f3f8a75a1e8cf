/// `login.oidc`: single sign-on with an OpenID Connect provider (authorization code flow with
/// PKCE). Decoded and checked offline: nothing here contacts the provider.
///
/// Invariants after decoding: `issuer` is an absolute URL, https unless its host is a loopback
/// address; `redirectURL` is an absolute http(s) URL; `scopes` contains `openid`; `claims`
/// maps the `sub` attribute.
public struct OIDCSettings: Sendable, Equatable {
    /// The provider's issuer identifier, without a trailing slash change: discovery reads
    /// `{issuer}/.well-known/openid-configuration` and ID tokens must carry it exactly as `iss`.
    public var issuer: String
    public var clientID: String
    /// `nil`: a public client (PKCE only, no client authentication).
    public var clientSecret: String?
    /// Absolute; its path is the callback the proxy serves.
    public var redirectURL: String
    public var scopes: [String] = ["openid", "email", "profile"]
    /// Session attribute ← claim, in file order.
    public var claims: [ClaimMapping] = [
        ClaimMapping(attribute: "sub", claim: "sub"), ClaimMapping(attribute: "email", claim: "email"),
        ClaimMapping(attribute: "name", claim: "name"),
    ]
    /// The label of the "Sign in with …" link on the built-in login page.
    /// `name` when it is not set.
    public static let defaultName = "single sign-on"
    public var name: String = defaultName
    /// PEM bundle to verify the provider's TLS certificate; `nil`: the system roots.
    public var caPath: String? = nil
    public var passAccessToken: Bool = false
    public var bearerAudience: String? = nil
    public var backchannelLogoutPath: String = "/oauth2/backchannel-logout"
    public var endSession: Bool = true

    public init(issuer: String, clientID: String, clientSecret: String?, redirectURL: String) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURL = redirectURL
    }

    /// The path part of ``redirectURL``: the callback endpoint.
    public var callbackPath: String { AbsoluteURL(redirectURL)?.path ?? "/" }
    /// `scheme://host[:port]` of ``redirectURL``, against which `logout.redirect` is resolved.
    public var redirectOrigin: String { AbsoluteURL(redirectURL)?.origin ?? "" }
}

/// One `claims` entry: the session attribute `attribute` takes the value of `claim`.
public struct ClaimMapping: Sendable, Equatable {
    public var attribute: String
    public var claim: String
    public init(attribute: String, claim: String) {
        self.attribute = attribute
        self.claim = claim
    }
}

/// The parts of an absolute http(s) URL the configuration checks need. Not a general parser:
/// no user info, and the path is what follows the authority up to `?` or `#`.
public struct AbsoluteURL: Sendable, Equatable {
    public var scheme: String
    /// Without brackets for IPv6.
    public var host: String
    public var port: Int?
    public var path: String
    public var hasQueryOrFragment: Bool

    public init?(_ text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains(where: { $0 == " " }) else { return nil }
        var host = Substring(authority), port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65535).contains(number) else { return nil }
                port = number
            } else if !after.isEmpty {
                return nil
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
        }
        guard !host.isEmpty else { return nil }
        let tail = rest[authorityEnd...]
        let pathEnd = tail.firstIndex { $0 == "?" || $0 == "#" } ?? tail.endIndex
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        self.path = tail[..<pathEnd].isEmpty ? "/" : String(tail[..<pathEnd])
        self.hasQueryOrFragment = pathEnd != tail.endIndex
    }

    /// `scheme://host[:port]`, IPv6 hosts in brackets.
    public var origin: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost)" + (port.map { ":\($0)" } ?? "")
    }

    /// Whether the host is a loopback address or `localhost`, where plain http is allowed for
    /// an identity provider (development, tests).
    public var isLoopback: Bool {
        host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host.hasPrefix("127.")
    }
}
