import CloakroomSessions
import Testing

/// What makes stored attributes unusable as a session's: the stores delete such a record and
/// answer "no session" (``DamagedSessionRecord``).
@Suite struct DamagedSessionRecordTests {
    @Test(arguments: [
        "", "{", "not json", "[1]", "\"alice\"", "null", "{}", #"{"sub":""}"#, #"{"sub":42}"#, #"{"sub":["a"]}"#,
        #"{"email":"a@example.com"}"#, #"{"sub":"alice","sub":"bob"}"#, #"{"sub":"alice"} x"#,
    ])
    func unusableAttributes(text: String) {
        #expect(throws: DamagedSessionRecord.self) { try DamagedSessionRecord.attributes(text: text) }
    }

    @Test func aSubjectBesideTheAttributesMustMatch() throws {
        #expect(try DamagedSessionRecord.attributes(text: #"{"sub":"alice","n":1}"#, subject: "alice") == ["sub": "alice", "n": 1])
        #expect(throws: DamagedSessionRecord.self) { try DamagedSessionRecord.attributes(text: #"{"sub":"alice"}"#, subject: "bob") }
    }

    /// The description names what is wrong, never the content (it may hold personal data).
    @Test func theDescriptionNeverQuotesTheRecord() {
        do {
            _ = try DamagedSessionRecord.attributes(text: #"{"sub":"alice","email":"secret@example.com""#)
            Issue.record("expected a damaged record")
        } catch {
            #expect(!"\(error)".contains("secret") && !"\(error)".contains("alice"))
        }
    }
}
