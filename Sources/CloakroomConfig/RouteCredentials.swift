/// `routes[].credentials`: what a request may present on a route to count as signed in
/// (SPEC "Machine clients"). Default: the session cookie alone.
public struct RouteCredentials: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The session cookie.
        case cookie
        /// `Authorization: Bearer ck_…`: an API key issued by the admin API.
        case apiKey = "api_key"
        /// `Authorization: Bearer <JWT>`: an access token of the `login.oidc` provider.
        case bearer
    }

    public var cookie: Bool
    public var apiKey: Bool
    public var bearer: Bool

    public init(_ kinds: [Kind] = [.cookie]) {
        cookie = kinds.contains(.cookie)
        apiKey = kinds.contains(.apiKey)
        bearer = kinds.contains(.bearer)
    }

    /// Whether `Authorization: Bearer` decides who the request is (SPEC: judged by it alone).
    public var acceptsBearerKind: Bool { apiKey || bearer }

    /// Only the session cookie: the default, and what every route did before machine clients.
    public var isCookieOnly: Bool { cookie && !apiKey && !bearer }

    /// The kinds, in the order the SPEC lists them.
    public var kinds: [Kind] {
        Kind.allCases.filter { kind in
            switch kind {
            case .cookie: cookie
            case .apiKey: apiKey
            case .bearer: bearer
            }
        }
    }
}

extension ConfigurationDecoder {
    /// A non-empty list of `cookie`, `api_key`, `bearer`, each at most once.
    func routeCredentials(_ value: YAMLValue) -> RouteCredentials? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one of cookie, api_key, bearer", at: value.path)
            return nil
        }
        var kinds: [RouteCredentials.Kind] = []
        for item in items {
            guard let kind = reader.choice(item, among: RouteCredentials.Kind.allCases) else { continue }
            if kinds.contains(kind) {
                reader.report("\(kind.rawValue) is listed twice", at: item.path)
            }
            kinds.append(kind)
        }
        return kinds.count == items.count ? RouteCredentials(kinds) : nil
    }
}
