import CloakroomSessions
import Foundation
import Testing

@Suite struct JSONValueSerializationTests {
    @Test func compactWithSortedKeys() {
        let value: JSONValue = ["zeta": 1, "alpha": ["b": true, "a": .null], "mid": ["x", 2]]
        #expect(value.jsonText == #"{"alpha":{"a":null,"b":true},"mid":["x",2],"zeta":1}"#)
        #expect(value.description == value.jsonText)
    }

    @Test(arguments: [
        (1.0, "1"), (-3.0, "-3"), (0.0, "0"), (-0.0, "0"), (1e15, "1000000000000000"), (0.5, "0.5"),
        (-12.25, "-12.25"), (1e300, "1e+300"), (1e-7, "1e-07"), (9_007_199_254_740_993.0, "9007199254740992"),
        (9.223372036854775807e18, "9.223372036854776e+18"), (-9.223372036854775e18, "-9223372036854774784"),
    ])
    func numbers(_ number: Double, _ text: String) throws {
        #expect(JSONValue.number(number).jsonText == text)
        #expect(try JSONValue(parsing: text) == .number(number))
    }

    @Test func nonFiniteNumbersPrintAsNull() {
        #expect(JSONValue.number(.nan).jsonText == "null")
        #expect(JSONValue.number(.infinity).jsonText == "null")
        #expect(JSONValue.array([.number(-.infinity)]).jsonText == "[null]")
    }

    @Test func stringEscaping() throws {
        let value = JSONValue.string("q\"b\\s/\n\r\t\u{8}\u{C}\u{0}\u{1F}\u{7F}é😀")
        #expect(value.jsonText == #""q\"b\\s/\n\r\t\b\f\u0000\u001f\u007fé😀""#)
        #expect(try JSONValue(parsing: value.jsonText) == value)
        #expect(JSONValue.object(["a\"\n": 1]).jsonText == #"{"a\"\n":1}"#)
    }

    @Test func codableEncodesPlainJSON() throws {
        struct Envelope: Codable, Equatable {
            var attributes: JSONValue
        }
        let envelope = Envelope(attributes: ["sub": "alice", "roles": ["a"], "n": 2, "ok": true, "none": .null])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(envelope), as: UTF8.self)
        // Plain JSON (no enum wrapper), readable by our own parser.
        let reparsed = try JSONValue(parsing: text)
        #expect(reparsed == ["attributes": envelope.attributes])
        #expect(try JSONDecoder().decode(Envelope.self, from: Data(text.utf8)) == envelope)
    }

    @Test func codableKeepsBoolsAndNumbersApart() throws {
        let data = Data(#"[true, 1, false, 0, 1.5, "1", null, {"a": []}]"#.utf8)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(decoded == [true, 1, false, 0, 1.5, "1", .null, ["a": []]])
    }
}
