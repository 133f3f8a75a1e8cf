import Yams

/// What the admin-talking commands (`cloakroom sessions|keys`) take from a configuration:
/// where the admin API listens, and its token. Each is `nil` when it was not asked for.
public struct AdminAccess: Sendable, Equatable {
    public var listen: SocketAddressSpec?
    public var token: String?
}

extension ConfigurationLoader {
    /// Reads only `admin.listen` (when `listen` is true) and `admin.token` (when `token` is
    /// true), with the checks `serve` makes on them, and nothing else of the file, which must
    /// still be YAML. A misspelled key at the top or in `admin` is reported, as `serve` would
    /// (found by an audit: `admin: { lisen: … }` sent the token to the default address).
    ///
    /// A command given `--token` (or `$CLOAKROOM_ADMIN_TOKEN`) uses no other key, so a problem
    /// elsewhere, such as `${SESSION_SECRET}` unset on an operator's machine where only `serve`
    /// needs it, or `${CLOAKROOM_ADMIN_TOKEN}` in `admin.token` unset because the token came
    /// by `--token`, must not stop it. `serve` and `check` still load the whole file.
    ///
    /// - Returns: `nil` when the file has no `admin` section.
    public static func adminAccess(
        contentsOf path: String, environment: [String: String], listen readsListen: Bool, token readsToken: Bool
    ) throws(ConfigurationError) -> AdminAccess? {
        let (root, duplicates) = try compose(readFile(path))
        let reader = YAMLReader(environment: environment, duplicates: duplicates)
        let decoder = ConfigurationDecoder(reader: reader, files: nil)
        var access: AdminAccess?
        if let top = reader.mapping(reader.root(root ?? Node("")), knownKeys: ConfigurationDecoder.topLevelKeys),
            let value = top["admin"], !value.isNull,
            let admin = reader.mapping(value, knownKeys: ConfigurationDecoder.adminKeys)
        {
            access = AdminAccess(
                listen: readsListen ? admin.optional("listen", reader.address) ?? ConfigurationDecoder.defaultAdminListen : nil,
                token: readsToken ? admin.required("token", decoder.adminToken) : nil)
        }
        guard reader.log.isEmpty else { throw ConfigurationError(problems: reader.log.problems) }
        return access
    }
}

extension ConfigurationLoader {
    /// Reads only `login.users_file`, for `cloakroom users add`: the file need not exist yet
    /// (the command creates it), and a problem elsewhere in the configuration (an unset
    /// variable only `serve` needs) does not matter — but one in this key does, so the command
    /// never writes to another file than the configured one; nor does a misspelled key at the
    /// top or in `login` (`users_fle`) go unreported.
    ///
    /// - Returns: `nil` when the configuration names no users file.
    public static func usersFile(contentsOf path: String, environment: [String: String]) throws(ConfigurationError) -> String? {
        let (root, duplicates) = try compose(readFile(path))
        let reader = YAMLReader(environment: environment, duplicates: duplicates)
        var usersFile: String?
        if let top = reader.mapping(reader.root(root ?? Node("")), knownKeys: ConfigurationDecoder.topLevelKeys),
            let value = top["login"], let login = reader.mapping(value, knownKeys: ConfigurationDecoder.loginKeys)
        {
            usersFile = login.optional("users_file") { reader.nullable($0) { reader.string($0) } } ?? nil
        }
        guard reader.log.isEmpty else { throw ConfigurationError(problems: reader.log.problems) }
        return usersFile
    }
}
