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
/// 256 bytes or hold control characters are errors, and so are values YAML reads as numbers or
/// booleans where a string is expected (`email: 5`; quote it) and a key that misspells
/// `password`, `email` or `roles` (`pasword`). Null values (`email: ~`) are left out.
enum UsersDocument {
    /// Every user in `text`, by name; the first problem when there is any (see ``read(_:path:)``
    /// for all of them).
    static func parse(_ text: String, path: String) throws(UsersFileError) -> [String: LoginUser] {
        let (users, problems) = try read(text, path: path)
        if let first = problems.first { throw first }
        return users
    }

    /// Every user without a problem, and every problem, in file order, so `cloakroom check`
    /// reports them all in one pass. Throws only when the text is not YAML at all.
    static func read(_ text: String, path: String) throws(UsersFileError) -> (users: [String: LoginUser], problems: [UsersFileError]) {
        guard let root = try compose(text, path: path) else { return ([:], []) }
        var problems: [UsersFileError] = []
        var users: [String: LoginUser] = [:]
        for (name, entry) in userEntries(root, path: path, problems: &problems) {
            users[name] = user(name: name, entry: entry, path: path, problems: &problems)
        }
        // By line, ties in the order found (a missing key is reported at its user's line).
        let ordered = problems.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }
        return (users, ordered.map(\.element))
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

    /// The `users:` entries in file order with valid names, values not yet read; a problem for
    /// each other key or name.
    static func userEntries(_ root: Node, path: String, problems: inout [UsersFileError]) -> [(name: String, entry: Node)] {
        if isNull(root) { return [] }
        let top = pairs(root, keyPath: "", path: path, expected: "a mapping with a `users` key", problems: &problems)
        var entries: [(name: String, entry: Node)] = []
        for (key, value) in top {
            guard key == "users" else {
                problems.append(UsersFileError(path: path, keyPath: UsersFileError.keyPath("", key), line: line(value),
                                               message: "unknown key (the file has only `users`)"))
                continue
            }
            if isNull(value) { continue }
            for (name, entry) in pairs(value, keyPath: "users", path: path, expected: "a mapping of user names", problems: &problems) {
                if let problem = nameProblem(name) {
                    problems.append(UsersFileError(path: path, keyPath: UsersFileError.keyPath("users", name), line: line(entry),
                                                   message: problem))
                    continue
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

    /// The keys the file gives a meaning to. Any other key is an attribute, unless it is surely
    /// a typo of one of these (`pasword`, `Email`): that one would otherwise silently become an
    /// attribute while the setting it meant went missing. Short names one edit away (`role`,
    /// `mail`, `emails`) are real attribute names too, so only case tells them apart.
    private static let knownKeys = ["password", "email", "roles"]

    /// The known key `key` misspells, if any: differing only in case, or within two edits of
    /// `password` (no attribute is spelled like that by accident).
    static func misspelledKey(_ key: String) -> String? {
        guard !knownKeys.contains(key) else { return nil }
        let lowered = key.lowercased()
        if let known = knownKeys.first(where: { $0 == lowered }) { return known }
        return editDistance(lowered, "password") <= 2 ? "password" : nil
    }

    /// The user `name`, or `nil` after adding every problem of its entry to `problems`.
    private static func user(name: String, entry: Node, path: String, problems: inout [UsersFileError]) -> LoginUser? {
        let userPath = UsersFileError.keyPath("users", name)
        let before = problems.count
        var hash: PasswordHash?
        var attributes: JSONObject = ["sub": .string(name)]
        for (key, value) in pairs(entry, keyPath: userPath, path: path, expected: "a mapping with a `password` key", problems: &problems) {
            let keyPath = UsersFileError.keyPath(userPath, key)
            func problem(_ message: String) {
                problems.append(UsersFileError(path: path, keyPath: keyPath, line: line(value), message: message))
            }
            switch key {
            case "password":
                guard let text = scalar(value), let parsed = PasswordHash(encoded: text) else {
                    problem("expected a password hash (`cloakroom users add` writes one)")
                    continue
                }
                hash = parsed
            case "sub":
                problem("not allowed: the user's name is its `sub`")
            case "email":
                guard isNull(value) || string(value) != nil else {
                    problem("expected a string, got \(shape(value))")
                    continue
                }
                attributes["email"] = string(value).map(JSONValue.string)
            case "roles":
                guard isNull(value) || strings(value) != nil else {
                    problem("expected a list of strings, got \(shape(value))")
                    continue
                }
                attributes["roles"] = strings(value).map { .array($0.map(JSONValue.string)) }
            default:
                if let known = misspelledKey(key) {
                    problem("unknown key (did you mean \"\(known)\"?)")
                } else if let text = string(value) {
                    attributes[key] = .string(text)
                } else if let list = strings(value) {
                    attributes[key] = .array(list.map(JSONValue.string))
                } else if !isNull(value) {
                    problem("expected a string or a list of strings, got \(shape(value))")
                }
            }
        }
        if hash == nil, !problems[before...].contains(where: { $0.keyPath == UsersFileError.keyPath(userPath, "password") }),
            case .mapping = entry
        {
            problems.append(UsersFileError(path: path, keyPath: UsersFileError.keyPath(userPath, "password"), line: line(entry),
                                           message: "required key is missing"))
        }
        guard problems.count == before, let hash else { return nil }
        return LoginUser(name: name, passwordHash: hash, attributes: attributes)
    }

    /// A mapping's pairs with string keys, in file order; a problem for anything else and for
    /// a key given twice (those pairs are left out).
    private static func pairs(
        _ node: Node, keyPath: String, path: String, expected: String, problems: inout [UsersFileError]
    ) -> [(String, Node)] {
        guard case .mapping(let mapping) = node else {
            problems.append(UsersFileError(path: path, keyPath: keyPath, line: line(node), message: "expected \(expected)"))
            return []
        }
        var seen: Set<String> = []
        var result: [(String, Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key, !isNull(key) else {
                problems.append(UsersFileError(path: path, keyPath: keyPath, line: line(key), message: "keys must be strings"))
                continue
            }
            guard seen.insert(scalar.string).inserted else {
                problems.append(UsersFileError(path: path, keyPath: UsersFileError.keyPath(keyPath, scalar.string), line: line(key),
                                               message: "given more than once"))
                continue
            }
            result.append((scalar.string, value))
        }
        return result
    }

    /// A scalar YAML reads as a string: not a number, boolean or null (`email: 5` is a
    /// mistake; `email: "5"` is a string).
    private static func string(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, node.tag.description == Tag.Name.str.rawValue else { return nil }
        return scalar.string
    }

    /// How a value reads in a "got …" message; never its text, which could be a secret.
    private static func shape(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            if isNull(node) { return "null" }
            switch node.tag.description {
            case Tag.Name.int.rawValue, Tag.Name.float.rawValue: return "a number (quote it to make it a string)"
            case Tag.Name.bool.rawValue: return "a boolean (quote it to make it a string)"
            default: return "a scalar"
            }
        }
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let source = Array(a), target = Array(b)
        guard !source.isEmpty, !target.isEmpty else { return max(source.count, target.count) }
        var previous = Array(0...target.count)
        for i in 1...source.count {
            var current = [i] + Array(repeating: 0, count: target.count)
            for j in 1...target.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (source[i - 1] == target[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[target.count]
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
            guard let text = string(element) else { return nil }
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
