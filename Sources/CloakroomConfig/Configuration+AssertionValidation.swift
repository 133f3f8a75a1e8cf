/// The rules of `identity.assertion` that involve other keys.
extension Configuration {
    func checkAssertion(report: Report, durableStore: Bool) {
        guard let assertion = identity.assertion else {
            // A setting that does nothing is refused rather than ignored (found by an audit).
            for (name, upstream) in upstreams.sorted(by: { $0.key < $1.key }) where upstream.audience != nil {
                report(
                    "names the assertion's aud, but identity.assertion is not configured",
                    ConfigPath("upstreams", name, "audience"))
            }
            return
        }
        let header = ConfigPath("identity", "assertion", "header")
        // A key made at start differs after every restart and on every instance: tokens it
        // signed stop verifying, and instances sharing sessions publish different keys.
        if assertion.signingKeys.isEmpty, durableStore {
            report(
                "required with the file and redis stores (a key made at start changes with every restart and differs between instances)",
                ConfigPath("identity", "assertion", "signing_keys"))
        }
        let folded = Self.foldedHeaderName(assertion.header)
        if let clash = identity.headers.first(where: { Self.foldedHeaderName($0.header) == folded }) {
            report(
                "\(HTTPSyntax.quoted(assertion.header)) is also an identity header (\(clash.header)): use another name",
                header, ConfigPath("identity", "headers"))
        }
    }

    /// Lower case, separators (`_`, `.`) as `-`: names a backend may read as one.
    static func foldedHeaderName(_ name: String) -> String {
        String(name.lowercased().map { $0 == "_" || $0 == "." ? "-" : $0 })
    }
}
