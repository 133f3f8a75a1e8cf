import Yams

/// Turns a composed YAML tree into a ``Configuration``, section by section.
///
/// Each section reader reports problems through the shared ``YAMLReader`` and falls back to the
/// default for a value it could not read, so decoding always runs to the end and one pass finds
/// every problem. Rules that relate several keys run afterwards on the typed result (see
/// `Configuration+Validation.swift`).
struct ConfigurationDecoder {
    let reader: YAMLReader
    /// Asked about the files the configuration names (see ``FileSystemProbe``); `nil` asks
    /// nothing.
    var files: (any FileSystemProbe)? = LocalFileSystem()

    static let adminKeys = ["listen", "token"]
    static let loginKeys = ["path", "users_file", "page", "throttle", "oidc"]
    static let topLevelKeys = [
        "listen", "client", "session", "identity", "login", "logout", "routes", "upstreams", "admin",
        "shutdown_timeout",
    ]

    /// The configuration as far as it could be read: a value with a problem keeps its default
    /// (the problems are in `reader.log`). `nil` when the file is not a mapping at all.
    func decode(_ root: Node?) -> Configuration? {
        let rootValue = reader.root(root ?? Node(""))  // an empty file reads as an empty mapping
        guard let map = reader.mapping(rootValue, knownKeys: Self.topLevelKeys) else { return nil }

        let listeners = map.required("listen", listeners) ?? []
        let client = map.optional("client", clientLimits) ?? ClientLimits()
        let session = map.optional("session", session) ?? SessionSettings()
        let identity = map.optional("identity", identity) ?? IdentitySettings()
        let login = map.optional("login", login) ?? LoginSettings()
        let logout = map.optional("logout", logout) ?? LogoutSettings()
        let routes = map.required("routes", routes) ?? []
        let upstreams = map.required("upstreams", upstreams) ?? [:]
        // `admin: null` (or a bare `admin:`) is no admin section, like `login.oidc: null`.
        let admin: AdminSettings? = map.optional("admin", { reader.nullable($0, self.admin) }) ?? nil

        var configuration = Configuration(
            listeners: listeners, client: client, session: session, identity: identity,
            login: login, logout: logout, routes: routes, upstreams: upstreams, admin: admin
        )
        if let timeout = map.optional("shutdown_timeout", reader.duration) { configuration.shutdownTimeout = timeout }
        for problem in configuration.crossKeyProblems(isValid: reader.isValid, storeNamedDurable: Self.storeNamedDurable(root)) {
            reader.report(problem.message, at: problem.path)
        }
        return configuration
    }

    /// Whether `session.store` names one store, `file` or `redis`, however its settings read.
    static func storeNamedDurable(_ root: Node?) -> Bool {
        guard let kinds = root?["session"]?["store"]?.mapping?.keys.compactMap(\.string), kinds.count == 1 else { return false }
        return kinds[0] == "file" || kinds[0] == "redis"
    }
}
