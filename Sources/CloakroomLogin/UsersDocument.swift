import CloakroomSessions
import Yams

/// One user of the built-in form login, as read from the users file.
public struct LoginUser: Sendable, Equatable {
    /// The key under `users:`; also the session's `sub`.
    public var name: String
    public var passwordHash: PasswordHash
    /// Session attributes for this user: `sub` = ``name``, plus `email` / `roles` and any other
    /// string or list-of-strings fields from the users file.
    public var attributes: JSONObject

    public init(name: String, passwordHash: PasswordHash, attributes: JSONObject) {
        self.name = name
        self.passwordHash = passwordHash
        self.attributes = attributes
    }
}

/// The grammar of the users file, shared by reading (``UsersFile``) and rewriting
/// (``UsersFile/upsert(path:name:password:email:roles:)``):
///
///     users:
///       alice:
///         password: "scrypt$N=32768,r=8,p=1$…$…"   # required, a PasswordHash encoding
///         email: alice@example.com                 # optional string
///         roles: [reader, writer]                  # optional list of strings
///         team: platform                           # any other string or list of strings
///
/// An empty file, or `users:` with no entries, has no users. Other top-level keys, nested
/// mappings, aliases, a `sub` key (the name is the `sub`) and names that are empty, longer than
/// 256 bytes or hold control characters are errors. Null values (`email: ~`) are left out.
enum UsersDocument {
    /// Every user in `text`, by name.
    static func parse(_ text: String, path: String) throws(UsersFileError) -> [String: LoginUser] {
        guard let root = try compose(text, path: path) else { return [:] }
        var users: [String: LoginUser] = [:]
        for (name, entry) in try userEntries(root, path: path) {
            users[name] = try user(name: name, entry: entry, path: path)
        }
        return users
    }

    /// The document's root node, or `nil` for an empty document.
    static func compose(_ text: String, path: String) throws(UsersFileError) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let (line, problem) = describe(error)
            throw UsersFileError(path: path, line: line, message: "not valid YAML: \(problem)")
        } catch {
            throw UsersFileError(path: path, message: "not valid YAML: \(error)")
        }
    }

    /// A one-line account of a YAML syntax error and its line. Unlike the error's own
    /// description it quotes no file content, which could put password hashes in logs.
    private static func describe(_ error: YamlError) -> (line: Int?, problem: String) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return (mark.line, context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "key given more than once: \(duplicates.sorted().joined(separator: ", "))")
        case .reader(let problem, _, _, _):
            return (nil, problem)
        default:
            return (nil, "\(error)")
        }
    }

    /// The `users:` entries in file order, names checked, values not yet read.
    static func userEntries(_ root: Node, path: String) throws(UsersFileError) -> [(name: String, entry: Node)] {
        if isNull(root) { return [] }
        let top = try pairs(root, keyPath: "", path: path, expected: "a mapping with a `users` key")
        var entries: [(name: String, entry: Node)] = []
        for (key, value) in top {
            guard key == "users" else {
                throw UsersFileError(path: path, keyPath: UsersFileError.keyPath("", key), line: line(value),
                                     message: "unknown key (the file has only `users`)")
            }
            if isNull(value) { continue }
            for (name, entry) in try pairs(value, keyPath: "users", path: path, expected: "a mapping of user names") {
                if let problem = nameProblem(name) {
                    throw UsersFileError(path: path, keyPath: UsersFileError.keyPath("users", name), line: line(entry),
                                         message: problem)
                }
                entries.append((name, entry))
            }
        }
        return entries
    }

    /// Why `name` cannot be a user name, or `nil` when it can.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a user name cannot be empty" }
        if name.utf8.count > 256 { return "a user name is at most 256 bytes" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "a user name cannot hold control characters"
        }
        return nil
    }

    private static func user(name: String, entry: Node, path: String) throws(UsersFileError) -> LoginUser {
        let userPath = UsersFileError.keyPath("users", name)
        var hash: PasswordHash?
        var attributes: JSONObject = ["sub": .string(name)]
        for (key, value) in try pairs(entry, keyPath: userPath, path: path, expected: "a mapping with a `password` key") {
            let keyPath = UsersFileError.keyPath(userPath, key)
            func problem(_ message: String) -> UsersFileError {
                UsersFileError(path: path, keyPath: keyPath, line: line(value), message: message)
            }
            switch key {
            case "password":
                guard let text = scalar(value), let parsed = PasswordHash(encoded: text) else {
                    throw problem("expected a password hash (`cloakroom users add` writes one)")
                }
                hash = parsed
            case "sub":
                throw problem("not allowed: the user's name is its `sub`")
            case "email":
                guard isNull(value) || scalar(value) != nil else { throw problem("expected a string") }
                attributes["email"] = scalar(value).map(JSONValue.string)
            case "roles":
                guard isNull(value) || strings(value) != nil else { throw problem("expected a list of strings") }
                attributes["roles"] = strings(value).map { .array($0.map(JSONValue.string)) }
            default:
                if let text = scalar(value) {
                    attributes[key] = .string(text)
                } else if let list = strings(value) {
                    attributes[key] = .array(list.map(JSONValue.string))
                } else if !isNull(value) {
                    throw problem("expected a string or a list of strings")
                }
            }
        }
        guard let hash else {
            throw UsersFileError(path: path, keyPath: UsersFileError.keyPath(userPath, "password"), line: line(entry),
                                 message: "required key is missing")
        }
        return LoginUser(name: name, passwordHash: hash, attributes: attributes)
    }

    /// A mapping's pairs with string keys, in file order; an error for anything else or a key
    /// given twice.
    private static func pairs(
        _ node: Node, keyPath: String, path: String, expected: String
    ) throws(UsersFileError) -> [(String, Node)] {
        guard case .mapping(let mapping) = node else {
            throw UsersFileError(path: path, keyPath: keyPath, line: line(node), message: "expected \(expected)")
        }
        var seen: Set<String> = []
        var result: [(String, Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key, !isNull(key) else {
                throw UsersFileError(path: path, keyPath: keyPath, line: line(key), message: "keys must be strings")
            }
            guard seen.insert(scalar.string).inserted else {
                throw UsersFileError(path: path, keyPath: UsersFileError.keyPath(keyPath, scalar.string), line: line(key),
                                     message: "given more than once")
            }
            result.append((scalar.string, value))
        }
        return result
    }

    /// A non-null scalar's text.
    private static func scalar(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, !isNull(node) else { return nil }
        return scalar.string
    }

    /// A list of non-null scalars' texts.
    private static func strings(_ node: Node) -> [String]? {
        guard case .sequence(let sequence) = node else { return nil }
        var result: [String] = []
        for element in sequence {
            guard let text = scalar(element) else { return nil }
            result.append(text)
        }
        return result
    }

    /// A plain `null`, `~` or empty scalar. A quoted `"null"` is a string.
    private static func isNull(_ node: Node) -> Bool {
        if case .scalar = node { return node.tag.description == Tag.Name.null.rawValue }
        return false
    }

    private static func line(_ node: Node) -> Int? { node.mark?.line }
}
