import CloakroomSessions
import Testing

@Suite struct JSONValueParsingTests {
    @Test func scalars() throws {
        #expect(try JSONValue(parsing: "null") == .null)
        #expect(try JSONValue(parsing: "true") == .bool(true))
        #expect(try JSONValue(parsing: "false") == .bool(false))
        #expect(try JSONValue(parsing: "0") == .number(0))
        #expect(try JSONValue(parsing: "-0") == .number(0))
        #expect(try JSONValue(parsing: "42") == .number(42))
        #expect(try JSONValue(parsing: "-12.25") == .number(-12.25))
        #expect(try JSONValue(parsing: "1.5e3") == .number(1500))
        #expect(try JSONValue(parsing: "1E-2") == .number(0.01))
        #expect(try JSONValue(parsing: "2e+2") == .number(200))
        #expect(try JSONValue(parsing: #""alice""#) == .string("alice"))
    }

    @Test func boolsAreNotNumbers() throws {
        let value = try JSONValue(parsing: "[true, 1, false, 0]")
        #expect(value == .array([.bool(true), .number(1), .bool(false), .number(0)]))
        #expect(value != .array([.number(1), .number(1), .number(0), .number(0)]))
    }

    @Test func stringEscapes() throws {
        let text = #""q\" b\\ s\/ \b\f\n\r\t \u00e9 \u20AC \ud83d\ude00 é""#
        #expect(try JSONValue(parsing: text) == .string("q\" b\\ s/ \u{8}\u{C}\n\r\t é € 😀 é"))
        #expect(try JSONValue(parsing: #""\u0000""#) == .string("\u{0}"))
    }

    @Test func structuresAndWhitespace() throws {
        let text = " \n\t{ \"sub\" : \"alice\" ,\r\n \"roles\":[ \"a\" , [ ] , { } ], \"n\":null } \n"
        let expected: JSONValue = ["sub": "alice", "roles": ["a", [], .object([:])], "n": .null]
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test(arguments: [
        "", " ", "tru", "nul", "True", "[1,]", #"{"a":1,}"#, "[1 2]", #"{"a" 1}"#, "{a:1}", "{'a':1}",
        "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "0x10", "NaN", "Infinity", "-Infinity", "1e400",
        #""a"#, "\"a\u{9}b\"", "\"a\nb\"", #""\x""#, #""\u12""#, #""\u12G4""#, #""\ud800""#, #""\udc00""#,
        #""\ud800\u0041""#, "[1] x", "[1]]", "{} {}", "// c\n1", "/* c */ 1", #"{"a":1,"a":2}"#, "[", "{", "\u{FEFF}1",
    ])
    func rejectsInvalidText(_ text: String) {
        #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try JSONValue(parsing: text) }
    }

    @Test func reportsWhereItFailed() {
        #expect(throws: JSONParseError("expected ',' or ']'", at: 3)) { try JSONValue(parsing: "[1 2]") }
        #expect(throws: JSONParseError(#"duplicate name "a""#, at: 7)) { try JSONValue(parsing: #"{"a":1,"a":2}"#) }
    }

    @Test func nestingIsBounded() throws {
        let limit = JSONValue.maximumParsingDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        _ = try JSONValue(parsing: deepest)
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: tooDeep) }
        let hostile = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: hostile) }
    }

    @Test func parseObjectRequiresAnObject() throws {
        #expect(try JSONValue.parseObject(#"{"sub":"alice"}"#) == ["sub": "alice"])
        #expect(try JSONValue.parseObject(" {} ") == [:])
        for text in ["[]", #""sub""#, "null", "1", "{"] {
            #expect(throws: JSONParseError.self) { try JSONValue.parseObject(text) }
        }
    }

    @Test(arguments: [
        ("null", "null"),
        (" [ 1 , 2.50 , -0.0 , 1E2 ] ", "[1,2.5,0,100]"),
        (#"{"b":1,"a":{"d":[],"c":"x"}}"#, #"{"a":{"c":"x","d":[]},"b":1}"#),
        (#""\u00e9\n\/""#, "\"é\\n/\""),
        (#"{"sub":"alice","roles":["admin","dev"],"verified":true,"n":null}"#, #"{"n":null,"roles":["admin","dev"],"sub":"alice","verified":true}"#),
        ("[0.1, 1e300, -5e-324, 123456789012]", "[0.1,1e+300,-5e-324,123456789012]"),
    ])
    func roundTrips(_ input: String, _ canonical: String) throws {
        let value = try JSONValue(parsing: input)
        #expect(value.jsonText == canonical)
        #expect(try JSONValue(parsing: value.jsonText) == value)
    }
}
