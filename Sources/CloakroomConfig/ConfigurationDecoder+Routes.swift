/// `routes` and `upstreams`: where requests go.
extension ConfigurationDecoder {
    func routes(_ value: YAMLValue) -> [Route]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one route", at: value.path)
            return nil
        }
        // One entry per item, even a broken one, so indexes match the file for later rules;
        // the broken entry's problems make those rules skip it.
        return items.map { route($0) ?? Route(path: "", upstream: "") }
    }

    private func route(_ value: YAMLValue) -> Route? {
        let keys = ["path", "upstream", "auth", "host", "allow", "rewrite_prefix", "networks", "cors", "credentials"]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        let path = map.required("path", routePath)
        let upstream = map.required("upstream") { reader.string($0) }
        let auth = map.optional("auth") { reader.choice($0, among: [Route.Auth.none, .optional, .required]) }
        let host = map.optional("host") { reader.nullable($0, routeHost) } ?? nil
        let allow = map.optional("allow") { reader.nullable($0, allowRules) } ?? nil
        let rewrite = map.optional("rewrite_prefix") { reader.nullable($0, rewritePrefix) } ?? nil
        let networks = map.optional("networks", cidrBlocks) ?? []
        let cors = map.optional("cors") { reader.nullable($0, self.cors) } ?? nil
        let credentials = map.optional("credentials", routeCredentials)
        // Missing parts are already reported; empty placeholders keep the rest checkable.
        var route = Route(
            path: path ?? "", upstream: upstream ?? "", auth: auth ?? .required, host: host, allow: allow,
            rewritePrefix: rewrite, networks: networks)
        route.cors = cors
        if let credentials { route.credentials = credentials }
        return route
    }

    func upstreams(_ value: YAMLValue) -> [String: Upstream]? {
        guard let map = reader.mapping(value, knownKeys: nil) else { return nil }
        guard !map.entries.isEmpty else {
            reader.report("must define at least one upstream", at: value.path)
            return nil
        }
        var upstreams: [String: Upstream] = [:]
        for (name, definition) in map.entries {
            if !Self.isUpstreamName(name) {
                reader.report(
                    "\(HTTPSyntax.quoted(name)) is not a valid upstream name (letters, digits, _ and - only)",
                    at: definition.path)
            }
            // Kept even when broken, so routes naming it are not also reported as unknown.
            upstreams[name] = upstream(definition) ?? Upstream(kind: .targets([]))
        }
        return upstreams
    }

    static func isUpstreamName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy { scalar in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", "_", "-": true
                default: false
                }
            }
    }

    private func upstream(_ value: YAMLValue) -> Upstream? {
        let keys = [
            "targets", "builtin", "connect_timeout", "response_timeout", "idle_timeout", "max_connections", "host_header",
            "tls", "audience",
        ]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        let kind: Upstream.Kind?
        switch (map["targets"], map["builtin"]) {
        case (let targets?, nil):
            kind = self.targets(targets).map(Upstream.Kind.targets)
        case (nil, let builtin?):
            kind = self.builtin(builtin)
        case (.some, .some):
            reader.report("has both targets and builtin; use one", at: value.path)
            kind = nil
        case (nil, nil):
            // After a misspelt key (already reported) this would only repeat the news.
            if reader.isValid(value.path) {
                reader.report("needs targets (a list of http(s)://host:port) or builtin: echo", at: value.path)
            }
            kind = nil
        }
        var upstream = Upstream(kind: kind ?? .targets([]))
        if kind == .echo {
            // The echo builtin answers by itself: no connection, no target, no pool. A setting
            // for those would be silently unused, as tls on http:// targets would.
            for key in ["connect_timeout", "response_timeout", "idle_timeout", "max_connections", "host_header"] {
                guard let setting = map[key] else { continue }
                reader.report("not used by the echo builtin (it answers by itself, connecting to nothing); remove it", at: setting.path)
            }
        } else {
            if let timeout = map.optional("connect_timeout", reader.duration) { upstream.connectTimeout = timeout }
            if let timeout = map.optional("response_timeout", reader.duration) { upstream.responseTimeout = timeout }
            if let timeout = map.optional("idle_timeout", reader.duration) { upstream.idleTimeout = timeout }
            if let limit = map.optional("max_connections", { reader.integer($0, atLeast: 1) }) {
                upstream.maxConnections = limit
            }
            if let hostHeader = map.optional("host_header", hostHeader) { upstream.hostHeader = hostHeader }
        }
        if let tlsValue = map["tls"] {
            let tls = reader.nullable(tlsValue, upstreamTLS)
            if let tls { upstream.tls = tls ?? UpstreamTLS() }
            // TLS settings for plain targets would be silently unused; said also when the block
            // has problems of its own (then it was meant to configure something).
            if kind == .echo, !tlsValue.isNull {
                reader.report("only for https targets; the echo builtin has none", at: tlsValue.path)
            } else if !tlsValue.isNull, tls == nil || !reader.isValid(tlsValue.path) || upstream.tls.isConfigured, let kind {
                switch kind {
                case .echo:
                    break
                case .targets(let targets) where !targets.contains(where: \.isTLS):
                    reader.report("only for https targets; every target here is http://", at: tlsValue.path)
                case .targets:
                    break
                }
            }
        }
        if let audience = map.optional("audience", { reader.nullable($0, { reader.string($0) }) }) { upstream.audience = audience }
        return kind == nil ? nil : upstream
    }

    private func targets(_ value: YAMLValue) -> [UpstreamTarget]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one target", at: value.path)
            return nil
        }
        let targets = items.compactMap { item -> UpstreamTarget? in
            guard let text = reader.scalarText(item, expecting: "a URL like http://127.0.0.1:9000 or https://api.example.com") else { return nil }
            return reader.check(UpstreamTarget.parse(text), at: item.path)
        }
        return targets.count == items.count ? targets : nil
    }

    private func builtin(_ value: YAMLValue) -> Upstream.Kind? {
        guard let name = reader.scalarText(value, expecting: "a builtin name") else { return nil }
        guard name == "echo" else {
            reader.report("unknown builtin \(HTTPSyntax.quoted(name)) (the only builtin is echo)", at: value.path)
            return nil
        }
        return .echo
    }
}
