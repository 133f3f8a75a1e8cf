import Foundation
import Testing

@testable import CloakroomConfig

/// Every configuration in `examples/` (the README's walkthroughs run them) parses and passes
/// the cross-key rules, with its `${VARIABLES}` set; `broken.yaml` is the one meant to fail.
/// Files they name (certificates, users files) are made by the walkthroughs, so they are not
/// checked here.
@Suite struct ExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples")

    /// The proxy configurations (a users file lives there too).
    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { name in
            guard name.hasSuffix(".yaml"), let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
                return false
            }
            return text.contains("\nroutes:")
        }.sorted()
    }

    /// A value for every `${NAME}` in `text`: a distinct port for `*PORT*`, else one long enough
    /// for secrets and tokens.
    static func environment(for text: String) -> [String: String] {
        var environment: [String: String] = [:]
        var rest = text[...]
        while let start = rest.range(of: "${") {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "}") else { break }
            let name = String(rest[..<end])
            environment[name] = name.contains("PORT") ? String(18_000 + environment.count) : String(repeating: "x", count: 64)
            rest = rest[end...]
        }
        return environment
    }

    @Test func thereAreExamples() {
        #expect(Self.names.count >= 10, "\(Self.names)")
        #expect(Self.names.contains("machine-clients.yaml"))
    }

    @Test(arguments: names)
    func exampleLoads(name: String) throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
        let environment = Self.environment(for: text)
        if name == "broken.yaml" {
            #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(text, environment: environment, files: nil) }
        } else {
            #expect(throws: Never.self, "\(name)") { try ConfigurationLoader.parse(text, environment: environment, files: nil) }
        }
    }
}
