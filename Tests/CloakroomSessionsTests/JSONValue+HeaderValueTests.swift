import CloakroomSessions
import Testing

@Suite struct JSONValueHeaderValueTests {
    @Test func scalars() {
        #expect(JSONValue.string("alice@example.com").headerValue == "alice@example.com")
        #expect(JSONValue.string("").headerValue == "")
        #expect(JSONValue.number(42).headerValue == "42")
        #expect(JSONValue.number(1.5).headerValue == "1.5")
        #expect(JSONValue.bool(true).headerValue == "true")
        #expect(JSONValue.bool(false).headerValue == "false")
        #expect(JSONValue.null.headerValue == nil)
    }

    @Test func arraysJoinWithCommaSpaceSkippingNulls() {
        #expect(JSONValue.array(["admin", "dev"]).headerValue == "admin, dev")
        #expect(JSONValue.array(["admin", .null, 3, true]).headerValue == "admin, 3, true")
        #expect(JSONValue.array([["a", "b"], "c"]).headerValue == "a, b, c")
        #expect(JSONValue.array([]).headerValue == "")
        #expect(JSONValue.array([.null]).headerValue == "")
        #expect(JSONValue.array([["k": "v"]]).headerValue == #"{"k":"v"}"#)
    }

    @Test func objectsAreTheirJSONText() {
        let value: JSONValue = ["tenant": "acme", "id": 7, "note": "line1\nline2"]
        #expect(value.headerValue == #"{"id":7,"note":"line1\nline2","tenant":"acme"}"#)
    }

    @Test(arguments: ["a\rb", "a\nb", "a\u{0}b", "\r\nX-Injected: 1", "a\u{1}b", "a\u{7F}b", "\n"])
    func unsafeStringsGiveNoHeader(_ text: String) {
        #expect(JSONValue.string(text).headerValue == nil)
        #expect(JSONValue.array(["ok", .string(text)]).headerValue == nil)
        #expect(JSONValue.array([.array([.string(text)])]).headerValue == nil)
    }

    @Test func tabsSpacesAndNonASCIIAreAllowed() {
        #expect(JSONValue.string("a\tb c").headerValue == "a\tb c")
        #expect(JSONValue.string("Zoë Ünal").headerValue == "Zoë Ünal")
    }
}
