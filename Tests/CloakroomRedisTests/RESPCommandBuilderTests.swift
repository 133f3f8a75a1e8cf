@testable import CloakroomRedis
import CloakroomSessions
import Foundation
import NIOCore
import Testing

@Suite struct RESPCommandBuilderTests {
    @Test func writesAnArrayOfBulkStrings() {
        var command = RESPCommandBuilder(argumentCount: 6)
        command.append("SET")
        command.append("ünï")
        command.append("")
        command.append(Int64(0))
        command.append(-1_800_000_000_123)
        command.append(ByteBuffer(bytes: [0, 13, 10]))
        #expect(Array(command.buffer.readableBytesView) == Array(
            "*6\r\n$3\r\nSET\r\n$5\r\nünï\r\n$0\r\n\r\n$1\r\n0\r\n$14\r\n-1800000000123\r\n$3\r\n".utf8) + [0, 13, 10] + Array("\r\n".utf8))
    }

    @Test func integersRoundTripThroughTheParser() throws {
        for value in [Int64.min, -10, -9, 0, 9, 10, 99, 100, 1_800_000_000_000, Int64.max] {
            var command = RESPCommandBuilder(argumentCount: 1)
            command.append(value)
            var buffer = command.buffer
            let parsed = try #require(try RESPParser().parse(&buffer))
            #expect(parsed == .array([bulk(String(value))]))
        }
    }

    @Test func sessionKeysAreWrittenAsTheirHex() throws {
        let key = SessionID.random().key
        var command = RESPCommandBuilder(argumentCount: 1)
        command.append(hexOf: key)
        var buffer = command.buffer
        let parsed = try #require(try RESPParser().parse(&buffer))
        let expected = key.rawBytes.map { String(format: "%02x", $0) }.joined()
        #expect(parsed == .array([bulk(expected)]))
        #expect(key.hex == expected)
        #expect(SessionKey(hex: expected[...]) == key)
        #expect(SessionKey(hex: expected.uppercased()[...]) == key)
        #expect(SessionKey(hex: expected.dropLast()) == nil)
        #expect(SessionKey(hex: (String(expected.dropLast()) + "g")[...]) == nil)
    }
}
