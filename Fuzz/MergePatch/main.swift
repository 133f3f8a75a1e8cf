// Fuzz target: the JSON parser and RFC 7386 merge patch (`JSONValue(parsing:)`,
// `applyingMergePatch`), as `Session-Update` uses them on a backend's header.
//
// Input: a target document and a patch, separated by the first 0xFF byte (a byte no UTF-8
// text contains); without one, the target is `{"sub":"alice"}`. Checked:
// - no trap, no memory error, no stack overflow (nesting is bounded by the parser);
// - serialization round-trips: what parses, printed and parsed again, is the same value;
// - a merge patch is idempotent (RFC 7386 §1: applying it twice changes nothing more), and an
//   object patch always yields an object that keeps every name the patch does not remove;
// - `sub` survives as the store's check requires: a patch without `sub` never changes it.
@testable import CloakroomSessions
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(FuzzDriver.bytes(data, size))
    let parts = input.split(separator: 0xFF, maxSplits: 1, omittingEmptySubsequences: false)
    let targetText = parts.count == 2 ? String(decoding: parts[0], as: UTF8.self) : #"{"sub":"alice"}"#
    let patchText = String(decoding: parts.last ?? [], as: UTF8.self)
    let target = parsed(targetText)
    guard let patch = parsed(patchText) else { return 0 }
    let base = target ?? ["sub": "alice"]
    let once = base.applyingMergePatch(patch)
    let twice = once.applyingMergePatch(patch)
    require(once == twice, "a merge patch applied twice changed more")
    roundTrip(once)
    if case .object(let members) = patch {
        guard case .object(let result) = once else { fatalError("an object patch yielded a non-object") }
        if case .object(let original) = base {
            for (name, value) in original where members[name] == nil {
                require(result[name] == value, "a name the patch does not mention changed")
            }
        }
        for (name, value) in members where value == .null { require(result[name] == nil, "a null member did not remove its name") }
    }
    return 0
}

/// The value of `text`, round-tripped through serialization, or nil when it is not JSON.
func parsed(_ text: String) -> JSONValue? {
    guard let value = try? JSONValue(parsing: text) else { return nil }
    roundTrip(value)
    return value
}

func roundTrip(_ value: JSONValue) {
    let text = value.jsonText
    require(Array(text.utf8) == value.jsonUTF8, "jsonText and jsonUTF8 differ")
    guard let again = try? JSONValue(parsing: text) else { fatalError("printed JSON does not parse: \(text)") }
    require(again == value, "printed and parsed again, the value changed: \(text)")
}

FuzzDriver.main(testOneInput)
