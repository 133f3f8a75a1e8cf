/// The parts of routes and upstreams that put Cloakroom in front of real APIs: `routes[].host`,
/// `routes[].allow`, `upstreams.*.host_header` and `upstreams.*.tls`.
extension ConfigurationDecoder {
    /// `admin.example.com`, `*.example.com`, an IPv4 address or `[::1]`; no port.
    func routeHost(_ value: YAMLValue) -> RouteHost? {
        guard let text = reader.string(value) else { return nil }
        return reader.check(HostName.routeHost(text), at: value.path)
    }

    /// A list of rules, each a mapping of attribute → a string or a list of strings.
    func allowRules(_ value: YAMLValue) -> [AllowRule]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one rule (leave allow out to admit every session)", at: value.path)
            return nil
        }
        let rules = items.compactMap(allowRule)
        return rules.count == items.count ? rules : nil
    }

    private func allowRule(_ value: YAMLValue) -> AllowRule? {
        guard let map = reader.mapping(value, knownKeys: nil) else { return nil }
        guard !map.entries.isEmpty else {
            reader.report("a rule names at least one attribute, like roles: [admin]", at: value.path)
            return nil
        }
        var conditions: [AllowRule.Condition] = []
        var complete = true
        for (attribute, patterns) in map.entries {
            guard !attribute.isEmpty else {
                reader.report("an attribute name must not be empty", at: patterns.path)
                complete = false
                continue
            }
            guard let values = allowPatterns(patterns) else {
                complete = false
                continue
            }
            conditions.append(AllowRule.Condition(attribute: attribute, patterns: values))
        }
        return complete ? AllowRule(conditions: conditions) : nil
    }

    /// A string, or a non-empty list of strings.
    private func allowPatterns(_ value: YAMLValue) -> [String]? {
        let expectation = "a string or a list of strings"
        if case .sequence = value.node {
            guard let items = reader.sequence(value) else { return nil }
            guard !items.isEmpty else {
                reader.report("must list at least one value", at: value.path)
                return nil
            }
            let values = items.compactMap { reader.scalarText($0, expecting: "a string") }
            return values.count == items.count ? values : nil
        }
        return reader.scalarText(value, expecting: expectation).map { [$0] }
    }

    /// A path the proxy matches requests against (a route's `path`, `login.path`, `logout.path`,
    /// `self_service`, `backchannel_logout_path`): in the normalized form requests are matched
    /// in, or it could never match.
    func routePath(_ value: YAMLValue) -> String? {
        guard let path = reader.urlPath(value) else { return nil }
        if let problem = HTTPSyntax.checkNormalizedPath(path) {
            reader.report(problem.message, at: value.path)
            return nil
        }
        return path
    }

    /// A path in the normalized form of the request paths it replaces a prefix of (the upstream
    /// gets it as written): no `//`, dot-segments, encoded slashes or dots, broken escapes or
    /// escapes that are not UTF-8, which a backend could resolve differently (found by an audit:
    /// `/%2e%2e/` passed and reached the backend as a climb).
    func rewritePrefix(_ value: YAMLValue) -> String? {
        guard let path = reader.urlPath(value) else { return nil }
        if let problem = HTTPSyntax.checkNormalizedPath(path, problem: "must be a normalized path, as requests are forwarded") {
            reader.report(problem.message, at: value.path)
            return nil
        }
        return path
    }

    /// `client`, `target`, or a literal `Host` value.
    func hostHeader(_ value: YAMLValue) -> HostHeader? {
        guard let text = reader.string(value) else { return nil }
        switch text {
        case "client": return .client
        case "target": return .target
        default:
            guard HostName.isHostFieldValue(text) else {
                reader.report(
                    "expected client, target or a host like api.example.com (optionally :port), got \(HTTPSyntax.quoted(text))",
                    at: value.path)
                return nil
            }
            return .literal(text)
        }
    }

    func upstreamTLS(_ value: YAMLValue) -> UpstreamTLS? {
        let keys = ["ca", "server_name", "certificate", "private_key", "insecure_skip_verify"]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        var tls = UpstreamTLS()
        func file(_ key: String) -> String? {
            map[key].flatMap { reader.nullable($0, existingFile) ?? nil }
        }
        tls.caPath = file("ca")
        tls.certificatePath = file("certificate")
        tls.privateKeyPath = file("private_key")
        if let name = map["server_name"] {
            tls.serverName = reader.nullable(name, serverName) ?? nil
        }
        if let skip = map.optional("insecure_skip_verify", reader.bool) { tls.insecureSkipVerify = skip }
        // A certificate is presented with its key: one without the other is a mistake.
        let certificateGiven = map["certificate"].map { !$0.isNull } ?? false
        let keyGiven = map["private_key"].map { !$0.isNull } ?? false
        if certificateGiven, !keyGiven {
            reader.report("required with certificate (the client certificate's key, PEM)", at: map.path.appending("private_key"))
        } else if keyGiven, !certificateGiven {
            reader.report("required with private_key (the client certificate, PEM)", at: map.path.appending("certificate"))
        }
        return tls
    }

    /// A DNS name to send as SNI and verify: not an IP address, no port, no wildcard.
    private func serverName(_ value: YAMLValue) -> String? {
        guard let text = reader.string(value) else { return nil }
        guard HostName.isIPAddress(text) == false else {
            reader.report(
                "must be a DNS name (SNI carries no IP address); leave it out to verify an IP target against the certificate's IP SANs",
                at: value.path)
            return nil
        }
        guard HostName.isDNSName(text) else {
            reader.report("expected a DNS name like api.example.com, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
        return text
    }
}

extension YAMLReader {
    /// A YAML boolean, `true` or `false` (also accepted quoted).
    func bool(_ value: YAMLValue) -> Bool? {
        guard let text = scalarText(value, expecting: "true or false") else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default:
            report("expected true or false, got \(HTTPSyntax.quoted(text))", at: value.path)
            return nil
        }
    }
}
