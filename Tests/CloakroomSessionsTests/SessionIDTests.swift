import CloakroomSessions
import Testing

@Suite struct SessionIDTests {
    @Test func randomIDsAre32BytesAndDiffer() {
        let ids = (0..<1000).map { _ in SessionID.random() }
        #expect(ids.allSatisfy { $0.bytes.count == 32 })
        #expect(Set(ids).count == 1000)
        #expect(Set(ids.map(\.key)).count == 1000)
        // Every byte position takes many values across 1000 IDs (a stuck byte would not).
        for position in 0..<32 {
            #expect(Set(ids.map { $0.bytes[position] }).count > 100, "byte \(position)")
        }
    }

    @Test func onlyExactly32BytesMakeAnID() {
        #expect(SessionID(bytes: []) == nil)
        #expect(SessionID(bytes: Array(repeating: 0, count: 31)) == nil)
        #expect(SessionID(bytes: Array(repeating: 0, count: 33)) == nil)
        #expect(SessionID(bytes: Array(repeating: 0, count: 32))?.bytes == Array(repeating: 0, count: 32))
    }

    @Test func keyIsTheSHA256OfTheID() {
        // sha256(32 zero bytes) and sha256(bytes 0...31), from Python's hashlib.
        let zeros = SessionID(bytes: Array(repeating: 0, count: 32))!
        #expect(hex(zeros.key.rawBytes) == "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925")
        let counting = SessionID(bytes: Array(0..<32))!
        #expect(hex(counting.key.rawBytes) == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")
        #expect(counting.key == SessionKey(digestOf: Array(0..<32)))
    }

    @Test func keyRoundTripsThroughRawBytes() {
        let key = SessionID.random().key
        #expect(SessionKey(rawBytes: key.rawBytes) == key)
        #expect(SessionKey(rawBytes: Array(repeating: 0, count: 31)) == nil)
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
