/// `identity`, `login` and `logout`: who the user is upstream, and how sessions start and end.
extension ConfigurationDecoder {
    /// Headers that frame or route the message; filling them from session attributes would
    /// break HTTP rather than identify anyone.
    static let reservedHeaders: Set<String> = [
        "connection", "content-length", "host", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "http2-settings",
    ]

    /// Headers the proxy writes itself on every forwarded request (or strips): an identity
    /// header of the same name would reach the backend beside the proxy's own, first, so a
    /// backend reading the first value would take a user's attribute for the client address.
    /// With the other spellings of the scheme, prefix, client address and URL that the proxy
    /// removes from client requests (`RequestFieldFilter.isReplacedOnForward`): an attribute
    /// there would feed what the removal protects (found by an audit).
    static let proxySetHeaders: Set<String> = [
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "forwarded", "x-real-ip",
        "x-request-id", "traceparent", "tracestate", "cookie", "expect",
        "x-forwarded-ssl", "x-forwarded-scheme", "x-forwarded-protocol", "x-forwarded-prefix", "x-forwarded-server",
        "front-end-https", "x-url-scheme", "true-client-ip", "x-client-ip", "x-cluster-client-ip", "x-original-url",
        "x-rewrite-url",
    ]

    /// The client's own: its credentials (a bearer token is forwarded as received, and
    /// `pass_access_token` writes the session's) and what its body is. An attribute there
    /// would replace them (found by an audit: `Content-Type: alice`).
    static let clientMessageHeaders: Set<String> = [
        "authorization", "proxy-authorization", "content-type", "content-encoding",
    ]

    /// A header name as backends may read it: lower case, every byte that is not a letter or a
    /// digit a `-` (CGI's `HTTP_X_USER_ID` is `X-User-Id` and `X_User_Id` alike).
    static func folded(_ header: String) -> String {
        String(header.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
    }

    func identity(_ value: YAMLValue) -> IdentitySettings? {
        guard let map = reader.mapping(value, knownKeys: ["headers", "strip", "assertion"]) else { return nil }
        var identity = IdentitySettings()
        if let headers = map.optional("headers", headerMappings) { identity.headers = headers }
        if let strip = map.optional("strip", stripPatterns) { identity.strip = strip }
        if let assertion = map.optional("assertion", { reader.nullable($0, assertion) }) { identity.assertion = assertion }
        return identity
    }

    /// In file order; an empty mapping means no identity headers at all.
    private func headerMappings(_ value: YAMLValue) -> [HeaderMapping]? {
        guard let map = reader.mapping(value, knownKeys: nil) else { return nil }
        var mappings: [HeaderMapping] = []
        var firstSpelling: [String: String] = [:]
        for (header, attributeValue) in map.entries {
            var validName = checkHeaderName(header, at: attributeValue.path)
            if validName, let earlier = firstSpelling[Self.folded(header)] {
                reader.report(
                    "duplicate of \(HTTPSyntax.quoted(earlier)) (header names are case-insensitive, and backends read `_` and `.` as `-`)",
                    at: attributeValue.path)
                validName = false
            }
            if firstSpelling[Self.folded(header)] == nil { firstSpelling[Self.folded(header)] = header }
            let attribute = reader.string(attributeValue)
            if validName, let attribute { mappings.append(HeaderMapping(header: header, attribute: attribute)) }
        }
        return reader.isValid(value.path) ? mappings : nil
    }

    private func checkHeaderName(_ header: String, at path: ConfigPath) -> Bool {
        guard HTTPSyntax.isToken(header) else {
            reader.report("\(HTTPSyntax.quoted(header)) is not a valid header name", at: path)
            return false
        }
        guard !Self.reservedHeaders.contains(Self.folded(header)) else {
            reader.report("\(header) cannot carry identity: it is part of HTTP message framing", at: path)
            return false
        }
        guard !Self.proxySetHeaders.contains(Self.folded(header)) else {
            reader.report("\(header) cannot carry identity: the proxy sets or removes it on every forwarded request", at: path)
            return false
        }
        guard !Self.clientMessageHeaders.contains(Self.folded(header)) else {
            reader.report("\(header) cannot carry identity: it carries the client's credentials or describes its body", at: path)
            return false
        }
        return true
    }

    private func stripPatterns(_ value: YAMLValue) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        let patterns = items.compactMap { item -> String? in
            guard let pattern = reader.string(item) else { return nil }
            guard HTTPSyntax.isHeaderPattern(pattern) else {
                reader.report(
                    "\(HTTPSyntax.quoted(pattern)) is not a header name pattern (token characters and *)", at: item.path
                )
                return nil
            }
            // The proxy writes these itself, whatever the client sent: stripping them would do
            // nothing (found by an audit: `Host` was accepted and kept). A `*` pattern leaves them.
            if !pattern.contains("*"), Self.reservedHeaders.contains(Self.folded(pattern)) {
                let why =
                    Self.folded(pattern) == "host"
                    ? "the proxy writes it itself, as upstreams.*.host_header says"
                    : "it frames the message, which the proxy does itself"
                reader.report("\(pattern) cannot be stripped: \(why)", at: item.path)
                return nil
            }
            return pattern
        }
        return patterns.count == items.count ? patterns : nil
    }

    func login(_ value: YAMLValue) -> LoginSettings? {
        guard let map = reader.mapping(value, knownKeys: Self.loginKeys) else { return nil }
        var login = LoginSettings()
        if let path = map.optional("path", routePath) { login.path = path }
        if let file = map.optional("users_file", { reader.nullable($0, existingFile) }) {
            login.usersFile = file
        }
        if let page = map.optional("page", { reader.nullable($0, reader.redirectTarget) }) { login.page = page }
        if let throttle = map.optional("throttle", throttle) { login.throttle = throttle }
        if let oidc = map.optional("oidc", { reader.nullable($0, oidc) }) { login.oidc = oidc }
        // The throttle counts the built-in form's failed passwords; a delegated login or single
        // sign-on has none here to count (found by an audit: accepted, and nothing throttled).
        if let throttle = map["throttle"], !throttle.isNull, map["users_file"]?.isNull ?? true {
            reader.report(
                "applies only to the built-in login: set login.users_file (a delegated login or single sign-on checks no passwords here)",
                at: throttle.path)
        }
        return login
    }

    private func throttle(_ value: YAMLValue) -> LoginThrottleSettings? {
        guard let map = reader.mapping(value, knownKeys: ["max_failures", "window", "max_delay"]) else { return nil }
        var throttle = LoginThrottleSettings()
        if let count = map.optional("max_failures", { reader.integer($0, atLeast: 1) }) { throttle.maxFailures = count }
        if let window = map.optional("window", reader.duration) { throttle.window = window }
        if let delay = map.optional("max_delay", reader.duration) { throttle.maxDelay = delay }
        return throttle
    }

    func logout(_ value: YAMLValue) -> LogoutSettings? {
        guard let map = reader.mapping(value, knownKeys: ["path", "redirect"]) else { return nil }
        var logout = LogoutSettings()
        if let path = map.optional("path", routePath) { logout.path = path }
        if let redirect = map.optional("redirect", reader.redirectTarget) { logout.redirect = redirect }
        return logout
    }
}
