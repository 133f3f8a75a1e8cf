import Foundation
import Testing

/// What fuzzing the configuration loader found (issue 26); the fuzzer's input is
/// `Fuzz/Corpus/ConfigLoader/finding-F3-*`.
@Suite struct ConfigFuzzFindingsTests {
    /// F3 (in Yams): a mapping with repeated keys and a complex (non-scalar) key, a `? {...}`
    /// entry. Yams sorts the repeated keys with `Node`'s ordering, which does not order a
    /// scalar against a mapping, so the keys named and the line given follow the process's
    /// hash seed, and `cloakroom check` printed a different message for the same file from one
    /// run to the next. The loader now sorts the names itself and gives no position when a
    /// complex key is among them: one message, every run. The file is always refused.
    @Test func f3ARepeatedKeyBesideAComplexKeyIsAlwaysRefused() async throws {
        let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Corpus/ConfigLoader/finding-F3-duplicate-keys-beside-a-complex-key")
        var messages = Set<String>()
        for _ in 0..<12 {
            let run = try await CommandLineTests.run(["check", "--config", input.path], environment: ["CLOAKROOM_SECRET": "x"])
            #expect(run.status == 1)
            #expect(run.output.contains("duplicate key") || run.errors.contains("duplicate key"), "\(run.output)\(run.errors)")
            messages.insert(run.output + run.errors)
        }
        #expect(messages.count == 1, "\(messages)")
    }
}
