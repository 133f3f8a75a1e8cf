/// Problems found so far, and where in the file each key path was seen so they can be reported
/// in file order whichever pass found them.
struct ProblemLog {
    /// A 1-based line and column, as YAML marks count them.
    typealias Position = (line: Int, column: Int)

    private var entries: [(path: ConfigPath, message: String)] = []
    private var positions: [ConfigPath: Position] = [:]

    var isEmpty: Bool { entries.isEmpty }

    mutating func report(_ message: String, at path: ConfigPath) {
        entries.append((path, message))
    }

    /// Remembers where `path` appears; the first sighting wins.
    mutating func note(_ position: Position?, for path: ConfigPath) {
        guard let position, positions[path] == nil else { return }
        positions[path] = position
    }

    /// Whether any problem was reported at `path`, beneath it, or at one of its ancestors (a
    /// problem with a whole section makes every value in it unusable).
    func hasProblem(touching path: ConfigPath) -> Bool {
        entries.contains { $0.path.isWithin(path) || path.isWithin($0.path) }
    }

    /// All problems, ordered by where they sit in the file. A path that never appeared in the
    /// file (a missing key) sorts at its nearest ancestor that did; ties keep reporting order.
    var problems: [ConfigurationProblem] {
        entries.enumerated()
            .map { offset, entry in (offset: offset, entry: entry, position: position(of: entry.path)) }
            .sorted { lhs, rhs in
                if lhs.position.line != rhs.position.line { return lhs.position.line < rhs.position.line }
                if lhs.position.column != rhs.position.column { return lhs.position.column < rhs.position.column }
                return lhs.offset < rhs.offset
            }
            .map { ConfigurationProblem(path: $0.entry.path.description, message: $0.entry.message) }
    }

    private func position(of path: ConfigPath) -> Position {
        var candidate = path
        while true {
            if let position = positions[candidate] { return position }
            if candidate.components.isEmpty { return (0, 0) }
            candidate = candidate.parent
        }
    }
}
