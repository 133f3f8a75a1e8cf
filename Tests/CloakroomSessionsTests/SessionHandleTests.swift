@testable import CloakroomSessions
import Testing

@Suite struct SessionHandleTests {
    @Test func handlesAre16Base64URLCharactersAndDiffer() {
        let handles = (0..<1000).map { _ in SessionHandle.random() }
        #expect(handles.allSatisfy { $0.count == SessionHandle.textLength })
        #expect(handles.allSatisfy { SessionHandle.isWellFormed($0) })
        #expect(Set(handles).count == 1000)
    }

    @Test func textRoundTripsThroughBits() throws {
        for _ in 0..<100 {
            let bits = SessionHandle.Bits.random()
            let parsed = try #require(SessionHandle.Bits(text: bits.text[...]))
            #expect(parsed == bits)
        }
        let edge = SessionHandle.Bits(high: .max, low: 0)
        #expect(edge.text == "__________8AAAAA")
    }

    @Test(arguments: ["", "short", "AAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAA+", "AAAAAAAAAAAAAAA.", "ÄAAAAAAAAAAAAAAA"])
    func malformedHandlesAreRejected(_ text: String) {
        #expect(!SessionHandle.isWellFormed(text))
    }
}
