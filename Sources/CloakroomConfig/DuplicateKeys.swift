import Yams

/// Composes `proxy.yaml` with its duplicate keys taken out of the way, so that each is reported
/// at its key path together with the file's other problems.
///
/// YAML forbids a key twice in one mapping, and Yams stops at the first one it finds with only
/// a line and column. Here each occurrence Yams names is renamed in the text to a marker and
/// the text composed again, until it composes: the tree then holds the last occurrence of each
/// key under its own name, and every earlier one under a marker that ``YAMLReader`` reports
/// (at the key's path, with both lines) and otherwise ignores.
struct DuplicateKeys {
    /// Marker → the key it renamed.
    private(set) var markers: [String: String] = [:]

    /// Yams checks a mapping once it has read it whole, so every pass finds at least one more
    /// duplicate; the bound only stops a pathological file from being composed without end.
    private static let maximumPasses = 64

    /// The composed tree and the markers in it. Throws Yams's error when the text is not YAML,
    /// or when a duplicate cannot be renamed (a complex key, or a key whose text at Yams's
    /// position is spelled with escapes).
    static func compose(_ yaml: String) throws -> (root: Node?, duplicates: DuplicateKeys) {
        var text = yaml
        var duplicates = DuplicateKeys()
        while true {
            do {
                return (try Yams.compose(yaml: text), duplicates)
            } catch let error as YamlError {
                guard case .duplicatedKeysInMapping(let keys, let context) = error,
                    duplicates.markers.count < maximumPasses,
                    let key = keys.first, !keys.contains("<uncovertable>"),
                    let renamed = duplicates.rename(key, at: context.mark, in: text)
                else { throw error }
                text = renamed
            }
        }
    }

    /// The key a marker stands for, or `nil` when `key` is not a marker.
    func original(of key: String) -> String? { markers[key] }

    /// `text` with the key at `mark` (1-based line and column, in characters, as Yams gives
    /// them) renamed to a new marker, or `nil` when the key is not spelled there as `key`, plain
    /// or in quotes.
    private mutating func rename(_ key: String, at mark: Mark, in text: String) -> String? {
        guard mark.line >= 1, mark.column >= 1 else { return nil }
        var line = 1
        var start = text.unicodeScalars.startIndex
        while line < mark.line {
            guard let newline = text.unicodeScalars[start...].firstIndex(of: "\n") else { return nil }
            start = text.unicodeScalars.index(after: newline)
            line += 1
        }
        guard let position = text.unicodeScalars.index(start, offsetBy: mark.column - 1, limitedBy: text.unicodeScalars.endIndex)
        else { return nil }
        let rest = text.unicodeScalars[position...]
        let insertion: String.UnicodeScalarView.Index
        if rest.starts(with: key.unicodeScalars) {
            insertion = position
        } else if let quote = rest.first, quote == "\"" || quote == "'",
            rest.dropFirst().starts(with: key.unicodeScalars + [quote])
        {
            insertion = text.unicodeScalars.index(after: position)
        } else {
            return nil
        }
        let prefix = "__duplicate_\(markers.count)__"
        markers[prefix + key] = key
        var renamed = text
        renamed.unicodeScalars.insert(contentsOf: prefix.unicodeScalars, at: insertion)
        return renamed
    }
}
