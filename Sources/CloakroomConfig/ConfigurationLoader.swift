import Foundation
import Yams

/// Reads `proxy.yaml` into a validated ``Configuration``.
///
/// Loading either returns a configuration that satisfies every documented invariant, or throws
/// one ``ConfigurationError`` listing every problem found, each with its key path, in file
/// order. `${NAME}` references in scalar values are replaced from `environment`; pass
/// `ProcessInfo.processInfo.environment` in production and a literal dictionary in tests.
///
/// - Important: The files the configuration names are checked through `files`, relative to
///   the process's working directory for the real file system: TLS certificates and keys and
///   the users file must be readable files, and the file store's directory must exist and be
///   writable. Loading touches the file system even for `parse`; `files: nil` skips these
///   checks (for a caller that only reads a setting, like `users add` finding the users file
///   it is about to create).
public enum ConfigurationLoader {
    /// Reads and parses the file at `path`. An unreadable file is one problem naming the file.
    public static func load(
        contentsOf path: String, environment: [String: String], files: (any FileSystemProbe)? = LocalFileSystem()
    ) throws(ConfigurationError) -> Configuration {
        try parse(readFile(path), environment: environment, files: files)
    }

    /// Parses and validates configuration text.
    public static func parse(
        _ yaml: String, environment: [String: String], files: (any FileSystemProbe)? = LocalFileSystem()
    ) throws(ConfigurationError) -> Configuration {
        let (root, duplicates) = try compose(yaml)
        let reader = YAMLReader(environment: environment, duplicates: duplicates)
        let configuration = ConfigurationDecoder(reader: reader, files: files).decode(root)
        reader.reportUnreadDuplicates()
        guard reader.log.isEmpty, let configuration else {
            throw ConfigurationError(problems: reader.log.problems, readable: configuration)
        }
        return configuration
    }

    /// The YAML tree with its duplicate keys renamed (for the reader to report with their key
    /// paths), or one problem saying where the text is not YAML.
    static func compose(_ yaml: String) throws(ConfigurationError) -> (root: Node?, duplicates: DuplicateKeys) {
        do {
            return try DuplicateKeys.compose(yaml)
        } catch {
            throw ConfigurationError(problems: [ConfigurationProblem(path: "", message: syntaxMessage(for: error))])
        }
    }

    static func readFile(_ path: String) throws(ConfigurationError) -> String {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(problems: [ConfigurationProblem(path: "", message: message)])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw failure("configuration file \(HTTPSyntax.quoted(path)) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw failure("configuration file \(HTTPSyntax.quoted(path)) is a directory")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw failure("configuration file \(HTTPSyntax.quoted(path)) cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw failure("configuration file \(HTTPSyntax.quoted(path)) is not valid UTF-8")
        }
        return text
    }

    /// One line with the position, without Yams's multi-line source snippet.
    static func syntaxMessage(for error: any Error) -> String {
        guard let error = error as? YamlError else { return "invalid YAML: \(error)" }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let contextText = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return "invalid YAML at line \(mark.line), column \(mark.column): \(problem)\(contextText)"
        case .reader(let problem, _, _, _):
            return "invalid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams orders the keys (and takes the position from the first) with `Node`'s
            // ordering, which does not order a scalar against a complex key (`? {...}`): with
            // one of those among them, both follow the hash seed. So the names are sorted here,
            // and the position given only when every key is a scalar.
            let complex = "<uncovertable>"
            let keys = duplicates.filter { $0 != complex }.sorted().map { HTTPSyntax.quoted($0) }
            guard !duplicates.contains(complex) else {
                return "invalid YAML: duplicate key \((keys + ["a complex key"]).joined(separator: ", "))"
            }
            return "invalid YAML at line \(context.mark.line), column \(context.mark.column): duplicate key \(keys.joined(separator: ", "))"
        default:
            return "invalid YAML: \(error)"
        }
    }
}
