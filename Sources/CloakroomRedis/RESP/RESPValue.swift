import NIOCore

/// One reply from Redis, in RESP2 or RESP3 (https://redis.io/docs/latest/develop/reference/protocol-spec/).
///
/// RESP2's null bulk string (`$-1`) and null array (`*-1`) and RESP3's null (`_`) are all
/// ``null``; RESP3's bulk error (`!`) is an ``error`` like a simple one. Attributes (`|`) are
/// read and dropped: no command the store sends asks for them. Byte payloads are slices of the
/// buffer the reply arrived in, not copies.
public enum RESPValue: Sendable, Hashable {
    case simpleString(ByteBuffer)
    case error(ByteBuffer)
    case integer(Int64)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])
    // RESP3 only:
    case double(Double)
    case boolean(Bool)
    /// The digits, as sent (an optional `-` then decimal digits).
    case bigNumber(ByteBuffer)
    /// A bulk string with a three-character format such as `txt` or `mkd`.
    case verbatimString(format: String, text: ByteBuffer)
    /// Key-value pairs in the order received.
    case map([RESPPair])
    case set([RESPValue])
    /// Out-of-band data (pub/sub messages on a RESP3 connection).
    case push([RESPValue])
}

/// One entry of a RESP3 map.
public struct RESPPair: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue

    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// The text of a simple or bulk string (or verbatim string), decoded as UTF-8.
    public var string: String? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes), .verbatimString(_, let bytes):
            return String(buffer: bytes)
        default:
            return nil
        }
    }

    /// An integer, or a simple or bulk string spelling one (RESP2 sends cursors that way).
    public var int64: Int64? {
        switch self {
        case .integer(let value): return value
        case .simpleString(let bytes), .bulkString(let bytes): return Int64(String(buffer: bytes))
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): return elements
        default: return nil
        }
    }

    /// The message of an error reply.
    public var errorMessage: String? {
        if case .error(let bytes) = self { return String(buffer: bytes) }
        return nil
    }

    /// Whether this is RESP2's null or RESP3's null, which scripts' `nil` and `false` become.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short rendering for logs and test failures. Strings are shown in full, so never log a
    /// reply that may hold session attributes.
    public var description: String {
        switch self {
        case .simpleString(let bytes): return "+\(String(buffer: bytes))"
        case .error(let bytes): return "-\(String(buffer: bytes))"
        case .integer(let value): return ":\(value)"
        case .bulkString(let bytes): return "\"\(String(buffer: bytes))\""
        case .null: return "null"
        case .array(let elements): return "[\(elements.map(\.description).joined(separator: ", "))]"
        case .double(let value): return ",\(value)"
        case .boolean(let value): return value ? "#t" : "#f"
        case .bigNumber(let bytes): return "(\(String(buffer: bytes))"
        case .verbatimString(let format, let text): return "=\(format):\(String(buffer: text))"
        case .map(let pairs): return "{\(pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", "))}"
        case .set(let elements): return "~[\(elements.map(\.description).joined(separator: ", "))]"
        case .push(let elements): return ">[\(elements.map(\.description).joined(separator: ", "))]"
        }
    }
}
