/// One thing wrong with a configuration, located by its key path.
///
/// `path` uses dots for keys and brackets for list indexes (`routes[1].upstream`,
/// `client.header_timeout`); keys that are not plain words are quoted (`identity.headers["X Y"]`).
/// It is empty for problems with the whole file (unreadable, not YAML).
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `path: message`, or just the message when the path is empty.
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a configuration, reported together so an operator can fix them in
/// one go.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// Never empty; in file order where the file gives one.
    public var problems: [ConfigurationProblem]
    /// What could be read despite the problems: every value with a problem holds its default,
    /// so a TLS listener, a users file or a Redis URL is in it only when it was read without
    /// one. `cloakroom check` runs the server's own checks (keys matching certificates, the
    /// users file's contents) on it, to report those in the same pass. Never serve it.
    public var readable: Configuration?

    /// - Precondition: `problems` is not empty.
    public init(problems: [ConfigurationProblem], readable: Configuration? = nil) {
        precondition(!problems.isEmpty, "a ConfigurationError needs at least one problem")
        self.problems = problems
        self.readable = readable
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
