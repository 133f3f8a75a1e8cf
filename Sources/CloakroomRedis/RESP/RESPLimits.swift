/// Bounds on what the decoder accepts, so a broken or hostile server cannot make the client
/// allocate without limit or recurse without end. A reply past any of them is a
/// ``RESPDecodingError``, which closes the connection.
public struct RESPLimits: Sendable, Hashable {
    /// Longest bulk string (or bulk error, or verbatim string) payload, in bytes.
    public var maxBulkLength: Int
    /// Deepest nesting of arrays, maps, sets, pushes and attributes; a top-level array is depth 1.
    public var maxDepth: Int
    /// Most elements in one aggregate (pairs count twice in a map).
    public var maxAggregateCount: Int
    /// Longest line of a simple string, error, number or length header, CRLF excluded.
    public var maxLineLength: Int
    /// Most bytes the decoder buffers while waiting for one reply to complete.
    public var maxReplyBytes: Int

    /// Generous for anything the session store sends or receives: attributes are kilobytes,
    /// script replies are a few levels deep, listing chunks are hundreds of sessions.
    public static let `default` = RESPLimits(
        maxBulkLength: 8 << 20, maxDepth: 8, maxAggregateCount: 1 << 20, maxLineLength: 64 << 10, maxReplyBytes: 64 << 20
    )

    public init(maxBulkLength: Int, maxDepth: Int, maxAggregateCount: Int, maxLineLength: Int, maxReplyBytes: Int) {
        self.maxBulkLength = maxBulkLength
        self.maxDepth = maxDepth
        self.maxAggregateCount = maxAggregateCount
        self.maxLineLength = maxLineLength
        self.maxReplyBytes = maxReplyBytes
    }
}

/// Why bytes from the server are not a RESP reply the client accepts.
public enum RESPDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownType(UInt8)
    /// A length or count that is not `-1` or a non-negative decimal.
    case invalidLength
    case invalidInteger
    case invalidDouble
    case invalidBoolean
    case invalidBigNumber
    case invalidVerbatimString
    /// A payload or line not followed by CRLF, or a bare CR inside a line.
    case missingCRLF
    case lineTooLong
    case bulkTooLong(Int)
    case aggregateTooLong(Int)
    case nestedTooDeep
    case replyTooLarge

    public var description: String {
        switch self {
        case .unknownType(let byte): return "unknown RESP type byte 0x\(String(byte, radix: 16))"
        case .invalidLength: return "invalid RESP length"
        case .invalidInteger: return "invalid RESP integer"
        case .invalidDouble: return "invalid RESP double"
        case .invalidBoolean: return "invalid RESP boolean"
        case .invalidBigNumber: return "invalid RESP big number"
        case .invalidVerbatimString: return "invalid RESP verbatim string"
        case .missingCRLF: return "RESP element not terminated by CRLF"
        case .lineTooLong: return "RESP line longer than the limit"
        case .bulkTooLong(let length): return "RESP bulk string of \(length) bytes exceeds the limit"
        case .aggregateTooLong(let count): return "RESP aggregate of \(count) elements exceeds the limit"
        case .nestedTooDeep: return "RESP reply nested deeper than the limit"
        case .replyTooLarge: return "RESP reply larger than the limit"
        }
    }
}
