@testable import CloakroomServer
import Foundation
import Testing

/// The JSON lines (access and audit log) escape every character that ends a line for some
/// reader: C0, DEL, the C1 controls (NEL is U+0085) and the line and paragraph separators
/// (found by an audit: a sub holding them split one audit line in three for Python's
/// `splitlines`). The result still parses as JSON to the same text.
struct JSONLinesEscapingTests {
    static func encoded(_ text: String) -> String {
        var line: [UInt8] = []
        JSONLinesLogHandler.appendString(text, to: &line)
        return String(decoding: line, as: UTF8.self)
    }

    @Test(arguments: [
        ("m\u{85}a\u{2028}b\u{2029}z", #""m\u0085a\u2028b\u2029z""#), ("a\u{7f}b\u{9f}c\u{80}", #""a\u007fb\u009fc\u0080""#),
        ("q\"\\\n\r\t\u{1}", #""q\"\\\n\r\t\u0001""#), ("café ✓ \u{2027}\u{202a}", "\"café ✓ \u{2027}\u{202a}\""),
        ("", #""""#),
    ])
    func linesEndNowhereButAtTheirEnd(text: String, expected: String) throws {
        let encoded = Self.encoded(text)
        #expect(encoded == expected)
        #expect(encoded.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count == 1)
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(encoded)]".utf8)) as? [String]
        #expect(decoded == [text])
    }
}
