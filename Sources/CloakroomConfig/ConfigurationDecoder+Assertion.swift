/// `identity.assertion`. The key files are only named here: `cloakroom check` and the server
/// read them (a PEM EC P-256 private key each), reporting each by its index.
extension ConfigurationDecoder {
    static let assertionKeys = ["header", "ttl", "signing_keys", "issuer"]

    /// Fields the proxy writes or removes itself, that are the client's (``clientMessageHeaders``),
    /// or that frame the message: an assertion there would be overwritten, overwrite, or break
    /// HTTP. Compared folded, as backends may read them.
    static let fieldsTakenByTheProxy: Set<String> = reservedHeaders.union(proxySetHeaders).union(clientMessageHeaders)

    /// Always a value when the section is a mapping: a broken key keeps its default, so the
    /// key files are still checked in the same pass.
    func assertion(_ value: YAMLValue) -> AssertionSettings? {
        guard let map = reader.mapping(value, knownKeys: Self.assertionKeys) else { return nil }
        var settings = AssertionSettings()
        if let header = map.optional("header", assertionHeader) { settings.header = header }
        if let ttl = map.optional("ttl", assertionTTL) { settings.ttl = ttl }
        if let keys = map.optional("signing_keys", signingKeys) { settings.signingKeys = keys }
        if let issuer = map.optional("issuer", { reader.string($0) }) { settings.issuer = issuer }
        return settings
    }

    private func assertionHeader(_ value: YAMLValue) -> String? {
        guard let header = reader.string(value) else { return nil }
        guard HTTPSyntax.isToken(header), !header.contains("*") else {
            reader.report("\(HTTPSyntax.quoted(header)) is not a valid header name (token characters, no *)", at: value.path)
            return nil
        }
        guard !Self.fieldsTakenByTheProxy.contains(Self.folded(header)) else {
            reader.report("\(header) cannot carry the assertion: the proxy sets it, it carries the client's credentials, or it frames the message", at: value.path)
            return nil
        }
        return header
    }

    private func assertionTTL(_ value: YAMLValue) -> Duration? {
        guard let ttl = reader.duration(value) else { return nil }
        guard ttl <= AssertionSettings.maximumTTL else {
            reader.report(
                "must be at most 1h (a signed identity outliving that is a stolen identity for too long), got \(ttl.configDescription)",
                at: value.path)
            return nil
        }
        guard ttl >= .seconds(1), ttl.components.attoseconds == 0 else {
            reader.report("must be a whole number of seconds (JWT times count seconds), got \(ttl.configDescription)", at: value.path)
            return nil
        }
        return ttl
    }

    /// Paths as written; every one is kept, even a broken one, so indexes match the file for
    /// the checks that read the keys.
    private func signingKeys(_ value: YAMLValue) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        return items.map { item in reader.string(item) ?? "" }
    }
}
