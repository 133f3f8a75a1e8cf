/// `admin`: the separate listener for the admin API.
extension ConfigurationDecoder {
    /// Bearer tokens shorter than this are guessable.
    static let minimumAdminTokenBytes = 32
    /// SPEC: `admin.listen` defaults to loopback; only the token is required with the section.
    static let defaultAdminListen = SocketAddressSpec(host: "127.0.0.1", port: 9901)

    func admin(_ value: YAMLValue) -> AdminSettings? {
        guard let map = reader.mapping(value, knownKeys: Self.adminKeys) else { return nil }
        // A listen with a problem is reported; the default stands in so later rules still run.
        let listen = map.optional("listen", reader.address) ?? Self.defaultAdminListen
        // A missing or bad token is reported; the section still stands for the rules that
        // compare it with others (its listener against the public ones), and the problem keeps
        // the configuration from loading.
        let token = map.required("token", adminToken) ?? ""
        return AdminSettings(listen: listen, token: token)
    }

    /// Also read alone by ``ConfigurationLoader/adminAccess(contentsOf:environment:listen:token:)``.
    func adminToken(_ value: YAMLValue) -> String? {
        guard let token = reader.secret(value, minimumBytes: Self.minimumAdminTokenBytes) else { return nil }
        // It travels in `Authorization: Bearer …`, where spaces and control bytes cannot.
        guard token.unicodeScalars.allSatisfy(HTTPSyntax.isVisibleASCII) else {
            reader.report("must be visible ASCII without spaces", at: value.path)
            return nil
        }
        return token
    }
}
