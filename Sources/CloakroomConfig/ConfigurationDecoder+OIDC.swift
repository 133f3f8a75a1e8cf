/// `login.oidc`. Every problem is reported with its key path; the provider is never contacted
/// (`cloakroom check` works offline).
extension ConfigurationDecoder {
    static let oidcKeys = [
        "issuer", "client_id", "client_secret", "redirect_url", "scopes", "claims", "name", "ca",
        "pass_access_token", "bearer_audience", "backchannel_logout_path", "end_session",
    ]

    func oidc(_ value: YAMLValue) -> OIDCSettings? {
        guard let map = reader.mapping(value, knownKeys: Self.oidcKeys) else { return nil }
        let issuer = map.required("issuer", issuerURL)
        let clientID = map.required("client_id", { reader.string($0) })
        let secret = map.optional("client_secret", { reader.nullable($0, { reader.string($0) }) }) ?? nil
        let redirect = map.required("redirect_url", redirectURL)
        var settings = OIDCSettings(issuer: issuer ?? "", clientID: clientID ?? "", clientSecret: secret, redirectURL: redirect ?? "")
        if let scopes = map.optional("scopes", scopes) { settings.scopes = scopes }
        if let claims = map.optional("claims", claims) { settings.claims = claims }
        if let name = map.optional("name", { reader.string($0) }) { settings.name = name }
        if let ca = map.optional("ca", { reader.nullable($0, existingFile) }) { settings.caPath = ca }
        if let pass = map.optional("pass_access_token", boolean) { settings.passAccessToken = pass }
        if let audience = map.optional("bearer_audience", { reader.nullable($0, { reader.string($0) }) }) {
            settings.bearerAudience = audience
        }
        if let path = map.optional("backchannel_logout_path", routePath) { settings.backchannelLogoutPath = path }
        if let end = map.optional("end_session", boolean) { settings.endSession = end }
        guard issuer != nil, clientID != nil, redirect != nil else { return nil }
        return settings
    }

    /// An absolute URL without query or fragment; https unless the host is loopback.
    private func issuerURL(_ value: YAMLValue) -> String? {
        guard let text = reader.string(value) else { return nil }
        guard let url = AbsoluteURL(text), !url.hasQueryOrFragment else {
            reader.report("expected an absolute http(s) URL without query or fragment, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        guard url.scheme == "https" || url.isLoopback else {
            reader.report("must use https (plain http only for loopback addresses), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        return text
    }

    private func redirectURL(_ value: YAMLValue) -> String? {
        guard let text = reader.string(value) else { return nil }
        guard let url = AbsoluteURL(text), !url.hasQueryOrFragment else {
            reader.report("expected an absolute http(s) URL without query or fragment, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        if let problem = HTTPSyntax.checkPath(url.path) {
            reader.report(problem.message, at: value.path)
            return nil
        }
        return text
    }

    private func scopes(_ value: YAMLValue) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        var scopes: [String] = []
        for item in items {
            guard let scope = reader.string(item) else { continue }
            guard !scope.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" }) else {
                reader.report("a scope is a token without spaces, got \(HTTPSyntax.quoted(scope))", at: item.path)
                continue
            }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        if !scopes.contains("openid") { scopes.insert("openid", at: 0) }
        return scopes
    }

    private func claims(_ value: YAMLValue) -> [ClaimMapping]? {
        guard let map = reader.mapping(value, knownKeys: nil) else { return nil }
        var mappings: [ClaimMapping] = []
        for (key, item) in map.entries {
            guard let claim = reader.string(item) else { continue }
            mappings.append(ClaimMapping(attribute: key, claim: claim))
        }
        guard mappings.contains(where: { $0.attribute == "sub" }) else {
            reader.report("must map the sub attribute (e.g. sub: sub)", at: value.path)
            return nil
        }
        return mappings
    }
}
