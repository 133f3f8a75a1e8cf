import Foundation
import Testing

@testable import CloakroomConfig

/// The smallest valid file: only the required sections.
let minimalYAML = """
    listen:
      - address: "127.0.0.1:8080"
    routes:
      - path: /
        upstream: api
    upstreams:
      api:
        targets: ["http://127.0.0.1:9000"]

    """

/// `minimalYAML` followed by more top-level sections.
func minimal(adding sections: String) -> String {
    minimalYAML + sections
}

/// The problems `yaml` produces; records an issue if it loads cleanly.
func problems(
    in yaml: String, environment: [String: String] = [:], files: (any FileSystemProbe)? = LocalFileSystem(),
    sourceLocation: SourceLocation = #_sourceLocation
) -> [ConfigurationProblem] {
    do {
        _ = try ConfigurationLoader.parse(yaml, environment: environment, files: files)
        Issue.record("expected configuration problems, but it loaded", sourceLocation: sourceLocation)
        return []
    } catch {
        #expect(!error.problems.isEmpty, sourceLocation: sourceLocation)
        return error.problems
    }
}

/// Expects `yaml` to fail with exactly one problem, at `path`, whose message contains
/// `message` (or equals it when `exact`). `message` must not be empty.
func expectSingleProblem(
    _ yaml: String, at path: String, _ message: String, exact: Bool = false,
    environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
) {
    precondition(!message.isEmpty, "say what the message must contain")
    let found = problems(in: yaml, environment: environment, sourceLocation: sourceLocation)
    #expect(found.map(\.path) == [path], "\(found)", sourceLocation: sourceLocation)
    guard let first = found.first else { return }
    if exact {
        #expect(first.message == message, sourceLocation: sourceLocation)
    } else {
        #expect(first.message.contains(message), "\(first.message)", sourceLocation: sourceLocation)
    }
}

/// Loads `yaml`, recording its problems as issues.
func load(
    _ yaml: String, environment: [String: String] = [:], files: (any FileSystemProbe)? = LocalFileSystem(),
    sourceLocation: SourceLocation = #_sourceLocation
) -> Configuration? {
    do {
        return try ConfigurationLoader.parse(yaml, environment: environment, files: files)
    } catch {
        Issue.record("unexpected problems:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A file that exists for the lifetime of the test process, for TLS paths.
func temporaryFile(named name: String, contents: String = "PEM") throws -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("cloakroom-config-tests-\(ProcessInfo.processInfo.processIdentifier)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try contents.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// A file system made of the entries it is given, for what root cannot make for real (a
/// directory it may not write, a file it may not read). Any other path does not exist.
struct FakeFileSystem: FileSystemProbe {
    var entries: [String: FileSystemEntry]

    init(_ entries: [String: FileSystemEntry] = [:]) { self.entries = entries }

    func entry(at path: String) -> FileSystemEntry? { entries[path] }

    static let file = FileSystemEntry(isDirectory: false)
    static let directory = FileSystemEntry(isDirectory: true)
}
