/// Why a users file cannot be used, naming the file and, when the problem is inside it, the key
/// path (`users.alice.password`) and line.
///
/// Rendered as `users file /etc/cloakroom/users.yaml, line 4: users.alice.roles: expected a
/// list of strings`, or without the line and key path for problems with the whole file.
public struct UsersFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, as given.
    public var path: String
    /// Dots between keys, brackets and quotes around keys that are not plain words
    /// (`users["bob smith"].email`); empty for problems with the whole file.
    public var keyPath: String
    /// 1-based line in the file, when known.
    public var line: Int?
    public var message: String

    public init(path: String, keyPath: String = "", line: Int? = nil, message: String) {
        self.path = path
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = "users file \(path)"
        if let line { text += ", line \(line)" }
        text += ": "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        return text + message
    }

    /// `parent.key`, or `parent["key"]` when the key is not a plain word (letters, digits,
    /// `_`, `-`, `@`). Quoted keys escape `"`, `\` and control characters.
    static func keyPath(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_-@".unicodeScalars.contains(scalar))
        }
        if plain { return parent.isEmpty ? key : "\(parent).\(key)" }
        var quoted = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "\"", "\\": quoted += "\\\(scalar)"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                quoted += "\\u{\(String(scalar.value, radix: 16))}"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return "\(parent)[\"\(quoted)\"]"
    }
}
