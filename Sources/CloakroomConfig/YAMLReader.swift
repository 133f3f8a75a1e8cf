import Yams

/// A YAML node together with the key path it was found at.
struct YAMLValue {
    var node: Node
    var path: ConfigPath

    /// A plain `null`, `~` or empty scalar. A quoted `"null"` is a string.
    var isNull: Bool {
        if case .scalar = node { return node.tag.description == Tag.Name.null.rawValue }
        return false
    }

    /// How the value reads in a "got …" message.
    var shape: String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar(let scalar): isNull ? "null" : HTTPSyntax.quoted(scalar.string)
        }
    }
}

/// A YAML mapping whose keys have been checked against the keys a section allows.
struct YAMLMapping {
    var path: ConfigPath
    /// String keys in file order, unknown keys already removed.
    var entries: [(key: String, value: YAMLValue)]
    unowned let reader: YAMLReader

    subscript(key: String) -> YAMLValue? { entries.first { $0.key == key }?.value }

    /// The value at `key` read with `read`, or `nil` when the key is absent or the value was
    /// wrong (a problem has then been reported).
    func optional<T>(_ key: String, _ read: (YAMLValue) -> T?) -> T? {
        self[key].flatMap(read)
    }

    /// Like ``optional(_:_:)``, but a missing key is a problem too.
    func required<T>(_ key: String, _ read: (YAMLValue) -> T?) -> T? {
        guard let value = self[key] else {
            reader.report("required key is missing", at: path.appending(key))
            return nil
        }
        return read(value)
    }
}

/// Walks a composed YAML tree for the configuration decoder: checks shapes, substitutes
/// environment variables into scalars, and records every problem with its key path instead of
/// stopping at the first.
///
/// - Important: Not thread-safe; one reader serves one load.
final class YAMLReader {
    private(set) var log = ProblemLog()
    let environment: [String: String]
    /// The earlier occurrences of keys given twice, renamed when the file was composed.
    let duplicates: DuplicateKeys
    /// The markers a mapping has reported; ``reportUnreadDuplicates()`` reports the rest.
    private var reportedDuplicates: Set<String> = []

    init(environment: [String: String], duplicates: DuplicateKeys = DuplicateKeys()) {
        self.environment = environment
        self.duplicates = duplicates
    }

    func report(_ message: String, at path: ConfigPath) {
        log.report(message, at: path)
    }

    /// Whether nothing has been reported at `path`, beneath it or at an ancestor; cross-key
    /// rules use this to avoid piling a second problem onto a value that is already wrong.
    func isValid(_ path: ConfigPath) -> Bool {
        !log.hasProblem(touching: path)
    }

    func root(_ node: Node) -> YAMLValue {
        log.note(node.mark.map { ($0.line, $0.column) }, for: .root)
        return YAMLValue(node: node, path: .root)
    }

    /// The value as a mapping whose keys must come from `knownKeys` (any key when `nil`).
    /// `null` reads as an empty mapping. Each unknown key is reported, with the closest known
    /// key as a suggestion, and left out of the result. YAML merge keys (`<<: *anchor`) are
    /// expanded first (``expandingMerges(_:at:)``).
    func mapping(_ value: YAMLValue, knownKeys: [String]?) -> YAMLMapping? {
        if value.isNull { return YAMLMapping(path: value.path, entries: [], reader: self) }
        guard case .mapping(let mapping) = value.node else {
            report("expected a mapping, got \(value.shape)", at: value.path)
            return nil
        }
        var entries: [(key: String, value: YAMLValue)] = []
        for (keyNode, valueNode) in expandingMerges(mapping, at: value.path) {
            guard case .scalar(let keyScalar) = keyNode else {
                report(
                    "keys must be plain strings, found \(YAMLValue(node: keyNode, path: value.path).shape)",
                    at: value.path)
                continue
            }
            if let original = duplicates.original(of: keyScalar.string) {
                reportDuplicate(original, marker: keyScalar, in: mapping, at: value.path)
                continue
            }
            let key = keyScalar.string
            let path = value.path.appending(key)
            log.note(keyScalar.mark.map { ($0.line, $0.column) }, for: path)
            if let knownKeys, !knownKeys.contains(key) {
                report(unknownKeyMessage(key, knownKeys: knownKeys), at: path)
                continue
            }
            entries.append((key, YAMLValue(node: valueNode, path: path)))
        }
        return YAMLMapping(path: value.path, entries: entries, reader: self)
    }

    /// `mapping`'s pairs with its merge keys (`<<: *anchor`, or `<<: [*a, *b]`) replaced by the
    /// pairs of the mappings they name, as YAML 1.1's merge type says: a key written in the
    /// mapping itself wins over a merged one, and an earlier mapping in a list over a later. A
    /// merge value that is not a mapping (or a list of them) is reported.
    private func expandingMerges(_ mapping: Node.Mapping, at path: ConfigPath) -> [(Node, Node)] {
        guard mapping.keys.contains(where: { $0.tag.rawValue == Tag.Name.merge.rawValue }) else { return Array(mapping) }
        var own: [(Node, Node)] = [], merged: [(Node, Node)] = []
        for (key, value) in mapping {
            guard key.tag.rawValue == Tag.Name.merge.rawValue else {
                own.append((key, value))
                continue
            }
            let sources: [Node.Mapping]
            switch value {
            case .mapping(let source): sources = [source]
            case .sequence(let list) where list.allSatisfy({ $0.mapping != nil }): sources = list.compactMap(\.mapping)
            default:
                report("a merge key (<<) takes an anchored mapping or a list of them, got \(YAMLValue(node: value, path: path).shape)", at: path)
                continue
            }
            for source in sources { merged += expandingMerges(source, at: path) }
        }
        var written = Set(own.compactMap { $0.0.scalar?.string })
        return own + merged.filter { written.insert($0.0.scalar?.string ?? "").inserted }
    }

    /// A key given twice: reported at its path with the line of its next occurrence (a
    /// later marker for the same key, or the key itself, which is read as usual).
    private func reportDuplicate(_ key: String, marker: Node.Scalar, in mapping: Node.Mapping, at parent: ConfigPath) {
        let path = parent.appending(key)
        log.note(marker.mark.map { ($0.line, $0.column) }, for: path)
        reportedDuplicates.insert(marker.string)
        let first = marker.mark.map { (line: $0.line, column: $0.column) }
        let later = mapping.keys.compactMap { node -> (line: Int, column: Int)? in
            guard case .scalar(let scalar) = node, let first, let mark = scalar.mark, (mark.line, mark.column) > first,
                scalar.string == key || self.duplicates.original(of: scalar.string) == key
            else { return nil }
            return (mark.line, mark.column)
        }.min { $0 < $1 }
        let lines: String
        switch (first, later) {
        case let (first?, later?) where first.line == later.line: lines = " twice on line \(first.line)"
        case let (first?, later?): lines = " at lines \(first.line) and \(later.line)"
        default: lines = ""
        }
        report(
            "duplicate key\(lines): give it once",
            at: path)
    }

    /// Duplicates in a part of the file no mapping read (under a key the configuration does
    /// not know): reported by line, so none passes unnoticed.
    func reportUnreadDuplicates() {
        let unread = duplicates.markers.keys.filter { !reportedDuplicates.contains($0) }
        guard !unread.isEmpty else { return }
        for marker in unread.sorted() {
            report("duplicate key \(HTTPSyntax.quoted(duplicates.original(of: marker) ?? marker))", at: .root)
        }
    }

    /// The value's items with their index paths. `null` reads as an empty list.
    func sequence(_ value: YAMLValue) -> [YAMLValue]? {
        if value.isNull { return [] }
        guard case .sequence(let sequence) = value.node else {
            report("expected a list, got \(value.shape)", at: value.path)
            return nil
        }
        return sequence.enumerated().map { index, node in
            let path = value.path.appending(index: index)
            log.note(node.mark.map { ($0.line, $0.column) }, for: path)
            return YAMLValue(node: node, path: path)
        }
    }

    /// The text of a non-null scalar with `${NAME}` references substituted. Anything else is
    /// reported as "expected `expectation`, got …".
    func scalarText(_ value: YAMLValue, expecting expectation: String) -> String? {
        guard case .scalar(let scalar) = value.node, !value.isNull else {
            report("expected \(expectation), got \(value.shape)", at: value.path)
            return nil
        }
        switch EnvironmentSubstitution.substitute(scalar.string, environment: environment) {
        case .substituted(let text):
            return text
        case .failed(let failures):
            for failure in failures { report(failure.message, at: value.path) }
            return nil
        }
    }

    private func unknownKeyMessage(_ key: String, knownKeys: [String]) -> String {
        let scored = knownKeys.map { (key: $0, distance: key.lowercased().editDistance(to: $0)) }
        guard let best = scored.min(by: { $0.distance < $1.distance }),
            best.distance <= max(2, best.key.count / 3)
        else { return "unknown key" }
        return "unknown key (did you mean \"\(best.key)\"?)"
    }
}

extension String {
    /// Levenshtein distance over characters; used to suggest the key a typo meant.
    func editDistance(to other: String) -> Int {
        let source = Array(self)
        let target = Array(other)
        guard !source.isEmpty else { return target.count }
        guard !target.isEmpty else { return source.count }
        var previous = Array(0...target.count)
        var current = [Int](repeating: 0, count: target.count + 1)
        for i in 1...source.count {
            current[0] = i
            for j in 1...target.count {
                let substitution = previous[j - 1] + (source[i - 1] == target[j - 1] ? 0 : 1)
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[target.count]
    }
}
