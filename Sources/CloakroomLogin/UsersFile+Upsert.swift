import Yams

extension UsersFile {
    /// Adds the user `name`, or resets an existing user's password, as `cloakroom users add`
    /// does. Creates the file (mode 0600) when it is absent.
    ///
    /// For an existing user the password is always replaced; `email` replaces the stored email
    /// when given (an empty string removes it) and `roles` replace the stored roles when not
    /// empty; otherwise what the file holds is kept, as are the user's other fields. So
    /// resetting a password does not drop roles an operator wrote by hand. Every other user and
    /// the order of the file are kept; comments are not (the file is re-serialized).
    ///
    /// The write is atomic: a temporary file in the same directory is written, flushed to disk
    /// and renamed over the file, keeping an existing file's permission bits and, when running
    /// as root, its owner and group. Readers, such as a running proxy, see the old file or the
    /// new one, never a mix. When `path` is a symbolic link, the file it resolves to is the one
    /// replaced, in that file's directory; the link stays.
    ///
    /// Throws a ``UsersFileError`` for an invalid name, an existing file that does not read
    /// cleanly (it is left untouched rather than half-understood), or a failed write; and a
    /// ``PasswordHashError`` for an empty password.
    ///
    /// Concurrent upserts to one file, in this process or others, run one after the other
    /// (an exclusive lock on the file's directory), so none loses another's update.
    ///
    /// - Important: Hashes the password (tens of milliseconds) and does blocking file I/O.
    public static func upsert(path: String, name: String, password: String, email: String?, roles: [String]) throws {
        if let problem = UsersDocument.nameProblem(name) {
            throw UsersFileError(path: path, keyPath: UsersFileError.keyPath("users", name), message: problem)
        }
        let hash = try PasswordHash.make(password: password)
        do {
            try FileSystem.withDirectoryLock(of: FileSystem.resolvingLinks(path)) {
                try rewrite(path: path, name: name, hash: hash, email: email, roles: roles)
            }
        } catch let failure as FileSystem.Failure {
            throw UsersFileError(path: path, message: failure.message)
        }
    }

    /// Reads the file, sets the user's entry and replaces the file: one read-modify-write.
    private static func rewrite(path: String, name: String, hash: PasswordHash, email: String?, roles: [String]) throws {

        var top: [(Node, Node)] = []
        if let text = try readText(path), let root = try UsersDocument.compose(text, path: path) {
            _ = try UsersDocument.parse(text, path: path)
            if case .mapping(let mapping) = root { top = mapping.map { ($0.key, $0.value) } }
        }
        var users: [(Node, Node)] = []
        if let index = top.firstIndex(where: { $0.0.scalar?.string == "users" }),
           case .mapping(let mapping) = top[index].1 {
            users = mapping.map { ($0.key, $0.value) }
        }
        var entry: [(Node, Node)] = []
        if let index = users.firstIndex(where: { $0.0.scalar?.string == name }),
           case .mapping(let mapping) = users[index].1 {
            entry = mapping.map { ($0.key, $0.value) }
        }

        set(&entry, "password", Node(hash.encoded, Tag(.str), .doubleQuoted))
        if let email {
            set(&entry, "email", email.isEmpty ? nil : stringNode(email))
        }
        if !roles.isEmpty {
            set(&entry, "roles", Node(roles.map(stringNode), Tag(.seq), .flow))
        }
        set(&users, name, Node(entry, Tag(.map), .block))
        set(&top, "users", Node(users, Tag(.map), .block))

        let yaml: String
        do {
            yaml = try Yams.serialize(node: Node(top, Tag(.map), .block), allowUnicode: true)
        } catch {
            throw UsersFileError(path: path, message: "cannot serialize: \(error)")
        }
        // A symbolic link (a Kubernetes secret mount is a chain of them) stays a link: the file
        // it names is the one replaced, keeping that file's mode, owner and group.
        let target = FileSystem.resolvingLinks(path)
        let existing = FileSignature(path: target)
        do {
            try FileSystem.replaceAtomically(
                target, with: Array((header + yaml).utf8), mode: .init(existing?.mode ?? 0o600),
                owner: existing.map { ($0.owner, $0.group) })
        } catch {
            throw UsersFileError(path: path, message: error.message)
        }
    }

    private static let header = """
        # Cloakroom login users. `cloakroom users add NAME` adds a user or resets a password.
        # That command rewrites this file, so comments here are not kept.

        """

    /// Sets `key` in `pairs` in place (its position kept), appends it when absent, or removes
    /// it when `value` is `nil`.
    private static func set(_ pairs: inout [(Node, Node)], _ key: String, _ value: Node?) {
        let index = pairs.firstIndex { $0.0.scalar?.string == key }
        switch (index, value) {
        case (let index?, let value?): pairs[index].1 = value
        case (let index?, nil): pairs.remove(at: index)
        case (nil, let value?): pairs.append((stringNode(key), value))
        case (nil, nil): break
        }
    }

    /// A string scalar, quoted when plain YAML would read it as something else (`123`, `true`,
    /// `~`), so other YAML tools read the file the same way Cloakroom does.
    private static func stringNode(_ text: String) -> Node {
        let readsAsString = Resolver.default.resolveTag(of: Node(text)) == .str
        return Node(text, Tag(.str), readsAsString ? .any : .doubleQuoted)
    }
}
