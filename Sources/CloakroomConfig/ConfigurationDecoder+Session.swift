/// `session`: cookie, timeouts, secrets and store.
extension ConfigurationDecoder {
    /// HMAC keys shorter than this are too weak to sign session cookies.
    static let minimumSecretBytes = 32

    func session(_ value: YAMLValue) -> SessionSettings? {
        let keys = [
            "cookie", "idle_timeout", "absolute_timeout", "touch_interval", "secrets", "store", "trusted_origins", "max_per_user",
            "self_service",
        ]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        var session = SessionSettings()
        if let cookie = map.optional("cookie", cookie) { session.cookie = cookie }
        if let timeout = map.optional("idle_timeout", reader.duration) { session.idleTimeout = timeout }
        if let timeout = map.optional("absolute_timeout", reader.duration) { session.absoluteTimeout = timeout }
        if let interval = map.optional("touch_interval", reader.duration) {
            session.touchInterval = interval
        } else {
            // Unset: 1m, or half a shorter idle timeout, so `idle_timeout: 5s` alone is a
            // working config (a 1m throttle would let an active session idle out).
            session.touchInterval = min(session.touchInterval, session.idleTimeout / 2)
        }
        if let secrets = map.optional("secrets", secrets) { session.secrets = secrets }
        if let store = map.optional("store", store) { session.store = store }
        if let origins = map.optional("trusted_origins", trustedOrigins) { session.trustedOrigins = origins }
        if let limit = map.optional("max_per_user", { reader.integer($0, atLeast: 0) }) { session.maxPerUser = limit }
        if let path = map.optional("self_service", { reader.nullable($0, selfServicePath) }) { session.selfService = path }
        return session
    }

    /// The self-service page's path: its handles follow it after a `/`, so it has no trailing
    /// slash (and is not `/` itself).
    private func selfServicePath(_ value: YAMLValue) -> String? {
        guard let path = routePath(value) else { return nil }
        guard !path.hasSuffix("/") else {
            reader.report("must not end with \"/\" (e.g. /.cloakroom/sessions)", at: value.path)
            return nil
        }
        return path
    }

    /// `scheme://host[:port]`, http or https, no path, query, user info or wildcard; stored as
    /// browsers send `Origin` (``origin(_:at:)``: lower-cased, no default port).
    private func trustedOrigins(_ value: YAMLValue) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        let origins = items.compactMap { item -> String? in
            guard let text = reader.string(item) else { return nil }
            return origin(text, at: item)
        }
        return origins.count == items.count ? origins : nil
    }

    private func cookie(_ value: YAMLValue) -> CookieSettings? {
        guard let map = reader.mapping(value, knownKeys: ["name", "secure", "same_site", "domain", "path"]) else {
            return nil
        }
        var cookie = CookieSettings()
        if let name = map.optional("name", cookieName) { cookie.name = name }
        if let secure = map.optional("secure", cookieSecure) { cookie.secure = secure }
        if let sameSite = map.optional(
            "same_site", { reader.choice($0, among: [CookieSettings.SameSite.strict, .lax, .none]) })
        {
            cookie.sameSite = sameSite
        }
        if let domain = map.optional("domain", { reader.nullable($0, cookieDomain) }) { cookie.domain = domain }
        if let path = map.optional("path", cookiePath) { cookie.path = path }
        return cookie
    }

    private func cookieName(_ value: YAMLValue) -> String? {
        guard let name = reader.string(value) else { return nil }
        guard HTTPSyntax.isToken(name) else {
            reader.report("\(HTTPSyntax.quoted(name)) is not a valid cookie name (RFC 6265 token)", at: value.path)
            return nil
        }
        return name
    }

    /// `auto`, or a YAML boolean (also accepted quoted).
    private func cookieSecure(_ value: YAMLValue) -> CookieSettings.Secure? {
        let expectation = "auto, true or false"
        guard let text = reader.scalarText(value, expecting: expectation) else { return nil }
        switch text.lowercased() {
        case "auto": return .auto
        case "true": return .always
        case "false": return .never
        default:
            reader.report("expected \(expectation), got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
    }

    private func cookieDomain(_ value: YAMLValue) -> String? {
        guard let domain = reader.string(value) else { return nil }
        // RFC 1123 labels (letters, digits, inner hyphens, at most 63 each) after an optional
        // leading dot, the last not all digits: browsers keep a cookie naming an IP address or
        // a malformed name to no host at all (found by an audit: `5` and `-bad-.com` passed).
        let labels = (domain.hasPrefix(".") ? domain.dropFirst() : domain[...]).split(separator: ".", omittingEmptySubsequences: false)
        let isHostName = !labels.isEmpty && labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.unicodeScalars.allSatisfy { scalar in
                    switch scalar {
                    case "a"..."z", "A"..."Z", "0"..."9", "-": true
                    default: false
                    }
                }
        } && !(labels.last?.allSatisfy(\.isNumber) ?? true)
        guard isHostName else {
            reader.report(
                "\(HTTPSyntax.quoted(domain)) is not a domain name (use null for a host-only cookie)", at: value.path)
            return nil
        }
        return domain
    }

    private func cookiePath(_ value: YAMLValue) -> String? {
        guard let path = reader.urlPath(value) else { return nil }
        // `;` would end the attribute in Set-Cookie.
        guard !path.contains(";") else {
            reader.report("must not contain \";\"", at: value.path)
            return nil
        }
        return path
    }

    /// Every entry is read even after a bad one so each gets its own problem.
    private func secrets(_ value: YAMLValue) -> [String]? {
        // A secret written without its list is a secret all the same: named, never shown (the
        // message reaches logs and the answer to POST /reload).
        if case .scalar = value.node, !value.isNull {
            reader.report("expected a list, got a single value (not shown: it may be a secret); write [\"${VAR}\"]", at: value.path)
            return nil
        }
        guard let items = reader.sequence(value) else { return nil }
        let secrets = items.compactMap { reader.secret($0, minimumBytes: Self.minimumSecretBytes) }
        return secrets.count == items.count ? secrets : nil
    }

    private func store(_ value: YAMLValue) -> StoreConfiguration? {
        let kinds = ["memory", "file", "redis"]
        guard let map = reader.mapping(value, knownKeys: kinds) else { return nil }
        // Each kind given is read, so its own problems are reported too (an unknown kind was
        // reported by the mapping, and is problem enough).
        let kindsKnown = reader.isValid(value.path)
        let stores = map.entries.map { store(kind: $0.key, $0.value) }
        guard stores.count == 1, let store = stores.first else {
            if kindsKnown {
                let found = map.entries.isEmpty ? "" : "; found \(map.entries.map(\.key).joined(separator: " and "))"
                reader.report("expected exactly one of memory, file, redis\(found)", at: value.path)
            }
            return nil
        }
        return store
    }

    private func store(kind: String, _ settings: YAMLValue) -> StoreConfiguration? {
        switch kind {
        case "memory":
            guard let map = reader.mapping(settings, knownKeys: ["max_sessions"]) else { return nil }
            var memory = MemoryStoreSettings()
            if let limit = map.optional("max_sessions", { reader.integer($0, atLeast: 1, atMost: MemoryStoreSettings.maximumSessions) }) {
                memory.maxSessions = limit
            }
            return .memory(memory)
        case "file":
            guard let map = reader.mapping(settings, knownKeys: ["path"]) else { return nil }
            guard let path = map["path"] else {
                // The default is checked like a written path (found by an audit: `file: {}`
                // was refused while `redis: {}` took its documented default).
                let path = FileStoreSettings.defaultPath
                if let problem = PathRules.storeFile(path, in: files) {
                    reader.report(problem, at: map.path.appending("path"))
                    return nil
                }
                return .file(FileStoreSettings(path: path))
            }
            return storePath(path).map { .file(FileStoreSettings(path: $0)) }
        default:
            return redisStore(settings).map { .redis($0) }
        }
    }

    /// The file store's database path; its directory must exist and be writable.
    private func storePath(_ value: YAMLValue) -> String? {
        guard let path = reader.string(value) else { return nil }
        if let problem = PathRules.storeFile(path, in: files) {
            reader.report(problem, at: value.path)
            return nil
        }
        return path
    }
}
