import Foundation

/// Where a value sits in the configuration file, as a list of keys and list indexes.
///
/// Rendered the way operators read it in `cloakroom check`: `routes[2].upstream`.
struct ConfigPath: Hashable, Sendable, CustomStringConvertible {
    enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    private(set) var components: [Component] = []

    /// The whole document.
    static let root = ConfigPath()

    /// A path made of keys only: `ConfigPath("session", "cookie", "name")`.
    init(_ keys: String...) {
        components = keys.map(Component.key)
    }

    func appending(_ key: String) -> ConfigPath {
        var copy = self
        copy.components.append(.key(key))
        return copy
    }

    func appending(index: Int) -> ConfigPath {
        var copy = self
        copy.components.append(.index(index))
        return copy
    }

    /// The path one level up; the root is its own parent.
    var parent: ConfigPath {
        var copy = self
        if !copy.components.isEmpty { copy.components.removeLast() }
        return copy
    }

    /// Whether `self` is `other` or lies beneath it.
    func isWithin(_ other: ConfigPath) -> Bool {
        components.starts(with: other.components)
    }

    var description: String {
        var text = ""
        for component in components {
            switch component {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where Self.isPlainKey(key):
                text += text.isEmpty ? key : ".\(key)"
            case .key(let key):
                text += "[\"\(HTTPSyntax.escaped(key))\"]"
            }
        }
        return text
    }

    /// Keys made only of letters, digits, `_` and `-` print bare; others are quoted so a dot
    /// inside a key cannot be mistaken for nesting.
    private static func isPlainKey(_ key: String) -> Bool {
        !key.isEmpty
            && key.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || scalar == "_" || scalar == "-")
            }
    }
}
