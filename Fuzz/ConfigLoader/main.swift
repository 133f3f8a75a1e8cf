// Fuzz target: the configuration loader (`ConfigurationLoader.parse`: environment
// substitution, YAML through Yams, the typed decoder and every validation rule).
//
// Input: the text of a `proxy.yaml` (as UTF-8, invalid sequences replaced). Checked:
// - no trap, no memory error, no stack overflow on deep nesting;
// - a refused file reports at least one problem, each with a message, and describing the
//   error never traps;
// - the same text gives the same outcome twice (no hidden state between loads, as a reload
//   relies on).
import CloakroomConfig
import FuzzSupport

let environment = ["CLOAKROOM_SECRET": String(repeating: "s", count: 32), "CLOAKROOM_ADMIN_TOKEN": String(repeating: "t", count: 32), "PORT": "8080"]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    let first = outcome(text), second = outcome(text)
    require(first == second, "the same file loaded twice gave different outcomes:\n\(first)\n---\n\(second)")
    return 0
}

func outcome(_ text: String) -> String {
    do {
        let configuration = try ConfigurationLoader.parse(text, environment: environment)
        return "valid: \(configuration.routes.count) routes, \(configuration.upstreams.count) upstreams, \(configuration.listeners.count) listeners"
    } catch {
        require(!error.problems.isEmpty, "a refused file with no problem reported")
        for problem in error.problems { require(!problem.message.isEmpty, "a problem without a message") }
        return "refused:\n" + error.description
    }
}

FuzzDriver.main(testOneInput)
