@testable import CloakroomRedis
import NIOCore
import Testing

/// Decoding real replies captured from redis-server 7.0 (``CapturedReplies``), in RESP2 and
/// RESP3, whole and byte by byte.
@Suite struct RESPParserCapturedTests {
    static let cases: [(String, [UInt8], [RESPValue])] = [
        ("resp2SimpleString", CapturedReplies.resp2SimpleString, [simple("PONG")]),
        ("resp2Error", CapturedReplies.resp2Error, [errorReply("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x' ")]),
        ("resp2Integer", CapturedReplies.resp2Integer, [.integer(-42)]),
        ("resp2Bulk", CapturedReplies.resp2Bulk, [.bulkString(ByteBuffer(bytes: Array("a\r\nb".utf8) + [0] + Array("c".utf8)))]),
        ("resp2UTF8Bulk", CapturedReplies.resp2UTF8Bulk, [bulk("ü\u{1F600}")]),
        ("resp2EmptyBulk", CapturedReplies.resp2EmptyBulk, [bulk("")]),
        ("resp2NullBulk", CapturedReplies.resp2NullBulk, [.null]),
        ("resp2HMGet", CapturedReplies.resp2HMGet, [.array([bulk("1"), .null, bulk("3")])]),
        ("resp2EmptyArray", CapturedReplies.resp2EmptyArray, [.array([])]),
        ("resp2NestedScriptReply", CapturedReplies.resp2NestedScriptReply,
         [.array([.integer(1), .array([bulk("two"), .array([.integer(3)])]), .null, bulk("end")])]),
        ("resp2ScriptFalse", CapturedReplies.resp2ScriptFalse, [.null]),
        ("resp2NoScript", CapturedReplies.resp2NoScript, [errorReply("NOSCRIPT No matching script. Please use EVAL.")]),
        ("resp2ZScore", CapturedReplies.resp2ZScore, [bulk("1.5")]),
        ("resp2SMembers", CapturedReplies.resp2SMembers, [.array([bulk("x")])]),
        ("resp2HGetAll", CapturedReplies.resp2HGetAll, [.array([bulk("a"), bulk("1"), bulk("c"), bulk("3")])]),
        ("resp2Scan", CapturedReplies.resp2Scan, [.array([bulk("0"), .array([bulk("k")])])]),
        ("resp2Pipelined", CapturedReplies.resp2Pipelined, [simple("PONG"), .null, .integer(-41)]),
        ("resp2Subscribe", CapturedReplies.resp2Subscribe, [.array([bulk("subscribe"), bulk("cloakroom:endings"), .integer(1)])]),
        ("resp2Message", CapturedReplies.resp2Message, [.array([bulk("message"), bulk("cloakroom:endings"), bulk("u:alice")])]),
        ("resp3Hello", CapturedReplies.resp3Hello, [.map([
            RESPPair(bulk("server"), bulk("redis")), RESPPair(bulk("version"), bulk("7.0.15")), RESPPair(bulk("proto"), .integer(3)),
            RESPPair(bulk("id"), .integer(17)), RESPPair(bulk("mode"), bulk("standalone")), RESPPair(bulk("role"), bulk("master")),
            RESPPair(bulk("modules"), .array([])),
        ])]),
        ("resp3SimpleString", CapturedReplies.resp3SimpleString, [simple("PONG")]),
        ("resp3Integer", CapturedReplies.resp3Integer, [.integer(-42)]),
        ("resp3NullBulk", CapturedReplies.resp3NullBulk, [.null]),
        ("resp3HMGet", CapturedReplies.resp3HMGet, [.array([bulk("1"), .null, bulk("3")])]),
        ("resp3NestedScriptReply", CapturedReplies.resp3NestedScriptReply,
         [.array([.integer(1), .array([bulk("two"), .array([.integer(3)])]), .null, bulk("end")])]),
        ("resp3ScriptFalse", CapturedReplies.resp3ScriptFalse, [.null]),
        ("resp3ZScore", CapturedReplies.resp3ZScore, [.double(1.5)]),
        ("resp3SMembers", CapturedReplies.resp3SMembers, [.set([bulk("x")])]),
        ("resp3HGetAll", CapturedReplies.resp3HGetAll, [.map([RESPPair(bulk("a"), bulk("1")), RESPPair(bulk("c"), bulk("3"))])]),
        ("resp3DebugDouble", CapturedReplies.resp3DebugDouble, [.double(3.141)]),
        ("resp3DebugBignum", CapturedReplies.resp3DebugBignum, [.bigNumber(ByteBuffer(string: "1234567999999999999999999999999999999"))]),
        ("resp3DebugNull", CapturedReplies.resp3DebugNull, [.null]),
        ("resp3DebugTrue", CapturedReplies.resp3DebugTrue, [.boolean(true)]),
        ("resp3DebugFalse", CapturedReplies.resp3DebugFalse, [.boolean(false)]),
        ("resp3DebugVerbatim", CapturedReplies.resp3DebugVerbatim,
         [.verbatimString(format: "txt", text: ByteBuffer(string: "This is a verbatim\nstring"))]),
        // The attribute is dropped; the reply it annotates remains.
        ("resp3DebugAttrib", CapturedReplies.resp3DebugAttrib, [bulk("Some real reply following the attribute")]),
        ("resp3DebugPush", CapturedReplies.resp3DebugPush,
         [.push([bulk("server-cpu-usage"), .integer(42)]), bulk("Some real reply following the push reply")]),
        ("resp3DebugMap", CapturedReplies.resp3DebugMap,
         [.map([RESPPair(.integer(0), .boolean(false)), RESPPair(.integer(1), .boolean(true)), RESPPair(.integer(2), .boolean(false))])]),
        ("resp3DebugSet", CapturedReplies.resp3DebugSet, [.set([.integer(0), .integer(1), .integer(2)])]),
        ("resp3Pipelined", CapturedReplies.resp3Pipelined, [simple("PONG"), .null, .integer(-41)]),
        ("resp3Subscribe", CapturedReplies.resp3Subscribe, [.push([bulk("subscribe"), bulk("cloakroom:endings"), .integer(1)])]),
        ("resp3Message", CapturedReplies.resp3Message, [.push([bulk("message"), bulk("cloakroom:endings"), bulk("u:alice")])]),
        ("wrongPassword", CapturedReplies.wrongPassword, [errorReply("WRONGPASS invalid username-password pair or user is disabled.")]),
    ]

    @Test(arguments: cases.indices)
    func decodesWhole(_ index: Int) throws {
        let (name, bytes, expected) = Self.cases[index]
        #expect(try parseAll(bytes) == expected, "\(name)")
    }

    /// Every proper prefix is "not yet", never an error and never a wrong value; the whole
    /// arrives as the same values however it is split.
    @Test(arguments: cases.indices)
    func decodesByteByByte(_ index: Int) throws {
        let (name, bytes, expected) = Self.cases[index]
        let parser = RESPParser()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in bytes {
            buffer.writeInteger(byte)
            while let value = try parser.parse(&buffer) { values.append(value) }
        }
        #expect(values == expected, "\(name)")
        #expect(buffer.readableBytes == 0)
    }

    @Test func unusedFixturesStillParse() throws {
        // Same bytes in both protocols, kept as captured evidence.
        for bytes in [CapturedReplies.resp3Error, CapturedReplies.resp3Bulk, CapturedReplies.resp3UTF8Bulk, CapturedReplies.resp3EmptyBulk,
                      CapturedReplies.resp3EmptyArray, CapturedReplies.resp3NoScript, CapturedReplies.resp3Scan,
                      CapturedReplies.helloWrongPassword] {
            #expect(try parseAll(bytes).count == 1)
        }
    }

    @Test func slicesShareTheInputBuffer() throws {
        var buffer = ByteBuffer(bytes: CapturedReplies.resp2HMGet)
        let value = try #require(try RESPParser().parse(&buffer))
        #expect(value.elements?.first?.string == "1")
        #expect(value.elements?.map(\.isNull) == [false, true, false])
    }
}

/// Malformed and oversized input: always a ``RESPDecodingError`` (or "not yet"), never a trap.
@Suite struct RESPParserMalformedTests {
    static let small = RESPLimits(maxBulkLength: 16, maxDepth: 3, maxAggregateCount: 8, maxLineLength: 32, maxReplyBytes: 256)

    static let malformed: [(String, RESPDecodingError)] = [
        ("?what\r\n", .unknownType(UInt8(ascii: "?"))),
        ("\r\n", .unknownType(UInt8(ascii: "\r"))),
        ("$abc\r\n", .invalidLength),
        ("$-2\r\n", .invalidLength),
        ("$\r\n", .invalidLength),
        ("$+3\r\nabc\r\n", .invalidLength),
        ("$ 3\r\nabc\r\n", .invalidLength),
        ("$99999999999999999999\r\n", .invalidLength),
        ("*-2\r\n", .invalidLength),
        ("~-1\r\n", .invalidLength),
        ("%-1\r\n", .invalidLength),
        ("$3\r\nabcXY", .missingCRLF),
        ("$3\r\nabc\rX", .missingCRLF),
        ("+OK\rX\n", .missingCRLF),
        ("_x\r\n", .missingCRLF),
        (":12a\r\n", .invalidInteger),
        (":\r\n", .invalidInteger),
        (":-\r\n", .invalidInteger),
        (":9223372036854775808\r\n", .invalidInteger),
        (":-9223372036854775809\r\n", .invalidInteger),
        ("#x\r\n", .invalidBoolean),
        ("#tt\r\n", .invalidBoolean),
        (",abc\r\n", .invalidDouble),
        (",0x1p3\r\n", .invalidDouble),
        (",\r\n", .invalidDouble),
        ("(12a\r\n", .invalidBigNumber),
        ("(\r\n", .invalidBigNumber),
        ("=3\r\ntxt\r\n", .invalidVerbatimString),
        ("=5\r\ntxtxx\r\n", .invalidVerbatimString),
        ("$17\r\n", .bulkTooLong(17)),
        ("!17\r\n", .bulkTooLong(17)),
        ("*9\r\n", .aggregateTooLong(9)),
        ("%5\r\n", .aggregateTooLong(10)),
        ("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", .nestedTooDeep),
        ("|1\r\n+a\r\n*1\r\n*1\r\n*1\r\n:1\r\n+b\r\n", .nestedTooDeep),
        ("+" + String(repeating: "a", count: 40), .lineTooLong),
        ("+" + String(repeating: "a", count: 33) + "\r\n", .lineTooLong),
    ]

    @Test(arguments: malformed.indices)
    func rejects(_ index: Int) {
        let (text, expected) = Self.malformed[index]
        var buffer = ByteBuffer(string: text)
        #expect(throws: expected, "\(text.debugDescription)") {
            _ = try RESPParser(limits: Self.small).parse(&buffer)
        }
    }

    @Test func atTheLimitsIsAccepted() throws {
        #expect(try parseAll(Array("$16\r\n\(String(repeating: "x", count: 16))\r\n".utf8), limits: Self.small) == [bulk(String(repeating: "x", count: 16))])
        #expect(try parseAll(Array("*1\r\n*1\r\n*1\r\n:1\r\n".utf8), limits: Self.small) == [.array([.array([.array([.integer(1)])])])])
        #expect(try parseAll(Array("*8\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n".utf8), limits: Self.small).count == 1)
        #expect(try parseAll(Array("+\(String(repeating: "a", count: 32))\r\n".utf8), limits: Self.small).count == 1)
        #expect(try parseAll(Array(":9223372036854775807\r\n:-9223372036854775808\r\n".utf8)) == [.integer(.max), .integer(.min)])
        #expect(try parseAll(Array(",inf\r\n,-inf\r\n,1e10\r\n,-0.5\r\n".utf8)) == [.double(.infinity), .double(-.infinity), .double(1e10), .double(-0.5)])
        #expect(try parseAll(Array("*-1\r\n".utf8)) == [.null])
    }

    /// A reply announcing more than has arrived waits; it does not allocate for the announced size.
    @Test func hugeAnnouncementsWaitWithoutAllocating() throws {
        let parser = RESPParser()
        var array = ByteBuffer(string: "*1000000\r\n:1\r\n")
        #expect(try parser.parse(&array) == nil)
        var bulk = ByteBuffer(string: "$8000000\r\nabc")
        #expect(try parser.parse(&bulk) == nil)
        #expect(array.readerIndex == 0 && bulk.readerIndex == 0, "nothing consumed while incomplete")
    }

    @Test func bufferingPastTheReplyLimitFails() throws {
        let parser = RESPParser(limits: Self.small)
        let inner = "*8\r\n" + String(repeating: "$16\r\n\(String(repeating: "x", count: 16))\r\n", count: 8)
        var buffer = ByteBuffer(string: "*8\r\n" + inner + inner)  // 380 bytes of a reply that needs 8 inner arrays
        #expect(throws: RESPDecodingError.replyTooLarge) { _ = try parser.parse(&buffer) }
    }

    /// A long chain of attributes is skipped in a loop: no stack growth, no depth error.
    @Test func attributeChainsDoNotRecurse() throws {
        let chain = String(repeating: "|1\r\n+k\r\n+v\r\n", count: 10_000) + ":7\r\n"
        #expect(try parseAll(Array(chain.utf8)) == [.integer(7)])
    }

    /// Random bytes, and captured replies with random damage, never crash the parser.
    @Test func randomInputNeverTraps() throws {
        var generator = SplitMix64(seed: 0x5EED_CAFE)
        let fixtures = RESPParserCapturedTests.cases.map(\.1)
        let alphabet = Array("+-:$*_#,(!=%~>|\r\n0123456789-abc".utf8)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1:
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            default:
                bytes = fixtures.randomElement(using: &generator)!
                for _ in 0..<Int.random(in: 1...4, using: &generator) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = alphabet.randomElement(using: &generator)!
                }
            }
            for limits in [RESPLimits.default, Self.small] {
                var buffer = ByteBuffer(bytes: bytes)
                let parser = RESPParser(limits: limits)
                do {
                    while let _ = try parser.parse(&buffer) {}
                } catch is RESPDecodingError {
                    // expected for most inputs
                }
            }
        }
    }
}

/// A small deterministic generator, so a failing fuzz round can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
