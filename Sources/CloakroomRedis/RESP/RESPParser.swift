import NIOCore

/// Reads one complete RESP2 or RESP3 reply from the front of a buffer.
///
/// `parse` either returns a value and consumes exactly its bytes, returns `nil` and consumes
/// nothing (the reply is not complete yet; call again when more bytes arrived), or throws a
/// ``RESPDecodingError``. It never traps on any input: lengths are checked against
/// ``RESPLimits`` and against the bytes present before anything is allocated or sliced, and
/// recursion is bounded by ``RESPLimits/maxDepth``.
///
/// An incomplete reply is parsed again from its start when more bytes arrive. Replies the
/// store reads are small, and an aggregate announcing more elements than its remaining bytes
/// could hold is recognised as incomplete before any element is decoded.
public struct RESPParser: Sendable {
    public let limits: RESPLimits

    public init(limits: RESPLimits = .default) {
        self.limits = limits
    }

    public func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        let base = buffer
        let result: (RESPValue, Int)? = try buffer.withUnsafeReadableBytes { bytes in
            var reader = Reader(bytes: bytes, base: base, limits: limits)
            guard let value = try reader.value(depth: 0) else { return nil }
            return (value, reader.position)
        }
        guard let (value, consumed) = result else {
            if buffer.readableBytes > limits.maxReplyBytes { throw RESPDecodingError.replyTooLarge }
            return nil
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return value
    }
}

/// A cursor over one attempt to read a reply. `nil` results mean "not enough bytes yet".
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let base: ByteBuffer
    let limits: RESPLimits
    var position = 0

    init(bytes: UnsafeRawBufferPointer, base: ByteBuffer, limits: RESPLimits) {
        self.bytes = bytes
        self.base = base
        self.limits = limits
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    mutating func value(depth: Int) throws -> RESPValue? {
        // Attributes precede the value they describe; skipped in a loop, not by recursion, so
        // a chain of them cannot deepen the stack.
        while true {
            guard position < bytes.count else { return nil }
            let type = bytes[position]
            position += 1
            switch type {
            case UInt8(ascii: "+"):
                return try line().map { .simpleString(slice($0)) }
            case UInt8(ascii: "-"):
                return try line().map { .error(slice($0)) }
            case UInt8(ascii: ":"):
                guard let range = try line() else { return nil }
                return .integer(try integer(range))
            case UInt8(ascii: "$"):
                guard let payload = try bulk(allowNull: true) else { return nil }
                return payload.map { .bulkString(slice($0)) } ?? .null
            case UInt8(ascii: "!"):
                guard let payload = try bulk(allowNull: false) else { return nil }
                return payload.map { .error(slice($0)) } ?? .null
            case UInt8(ascii: "="):
                guard let payload = try bulk(allowNull: false), let range = payload else { return nil }
                guard range.count >= 4, bytes[range.lowerBound + 3] == UInt8(ascii: ":") else {
                    throw RESPDecodingError.invalidVerbatimString
                }
                let format = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.lowerBound..<range.lowerBound + 3]), as: UTF8.self)
                return .verbatimString(format: format, text: slice(range.lowerBound + 4..<range.upperBound))
            case UInt8(ascii: "_"):
                guard let range = try line() else { return nil }
                guard range.isEmpty else { throw RESPDecodingError.missingCRLF }
                return .null
            case UInt8(ascii: "#"):
                guard let range = try line() else { return nil }
                guard range.count == 1 else { throw RESPDecodingError.invalidBoolean }
                switch bytes[range.lowerBound] {
                case UInt8(ascii: "t"): return .boolean(true)
                case UInt8(ascii: "f"): return .boolean(false)
                default: throw RESPDecodingError.invalidBoolean
                }
            case UInt8(ascii: ","):
                guard let range = try line() else { return nil }
                return .double(try double(range))
            case UInt8(ascii: "("):
                guard let range = try line() else { return nil }
                try checkBigNumber(range)
                return .bigNumber(slice(range))
            case UInt8(ascii: "*"):
                guard let elements = try aggregate(depth: depth, pairs: false, allowNull: true) else { return nil }
                return elements.map { .array($0) } ?? .null
            case UInt8(ascii: "~"):
                guard let elements = try aggregate(depth: depth, pairs: false, allowNull: false) else { return nil }
                return elements.map { .set($0) } ?? .null
            case UInt8(ascii: ">"):
                guard let elements = try aggregate(depth: depth, pairs: false, allowNull: false) else { return nil }
                return elements.map { .push($0) } ?? .null
            case UInt8(ascii: "%"):
                guard let elements = try aggregate(depth: depth, pairs: true, allowNull: false) else { return nil }
                guard let elements else { return .null }
                var pairs: [RESPPair] = []
                pairs.reserveCapacity(elements.count / 2)
                var index = 0
                while index < elements.count {
                    pairs.append(RESPPair(elements[index], elements[index + 1]))
                    index += 2
                }
                return .map(pairs)
            case UInt8(ascii: "|"):
                guard try aggregate(depth: depth, pairs: true, allowNull: false) != nil else { return nil }
                continue
            default:
                throw RESPDecodingError.unknownType(type)
            }
        }
    }

    /// The range of the line starting at `position` (CRLF excluded); moves past the CRLF.
    private mutating func line() throws -> Range<Int>? {
        let start = position
        let searchEnd = min(bytes.count, start + limits.maxLineLength + 2)
        var index = start
        while index < searchEnd {
            if bytes[index] == Self.cr {
                guard index + 1 < bytes.count else { return nil }
                guard bytes[index + 1] == Self.lf else { throw RESPDecodingError.missingCRLF }
                guard index - start <= limits.maxLineLength else { throw RESPDecodingError.lineTooLong }
                position = index + 2
                return start..<index
            }
            index += 1
        }
        if searchEnd - start >= limits.maxLineLength + 2 { throw RESPDecodingError.lineTooLong }
        return nil
    }

    /// A length header: `nil` when incomplete, `.some(nil)` for `-1` (when allowed).
    private mutating func length(allowNull: Bool) throws -> Int?? {
        guard let range = try line() else { return nil }
        if allowNull, range.count == 2, bytes[range.lowerBound] == UInt8(ascii: "-"), bytes[range.lowerBound + 1] == UInt8(ascii: "1") {
            return .some(nil)
        }
        guard !range.isEmpty, range.count <= 18 else { throw RESPDecodingError.invalidLength }
        var value = 0
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw RESPDecodingError.invalidLength }
            value = value * 10 + Int(digit)
        }
        return .some(value)
    }

    /// A bulk payload: `nil` when incomplete, `.some(nil)` for a RESP2 null bulk string.
    private mutating func bulk(allowNull: Bool) throws -> Range<Int>?? {
        guard let header = try length(allowNull: allowNull) else { return nil }
        guard let count = header else { return .some(nil) }
        guard count <= limits.maxBulkLength else { throw RESPDecodingError.bulkTooLong(count) }
        let start = position
        guard bytes.count - start >= count + 2 else { return nil }
        guard bytes[start + count] == Self.cr, bytes[start + count + 1] == Self.lf else {
            throw RESPDecodingError.missingCRLF
        }
        position = start + count + 2
        return .some(start..<start + count)
    }

    /// The elements of an aggregate of `count` elements (`2 × count` for maps and attributes).
    private mutating func aggregate(depth: Int, pairs: Bool, allowNull: Bool) throws -> [RESPValue]?? {
        guard let header = try length(allowNull: allowNull) else { return nil }
        guard let count = header else { return .some(nil) }
        let elementCount = pairs ? count * 2 : count
        guard elementCount <= limits.maxAggregateCount else { throw RESPDecodingError.aggregateTooLong(elementCount) }
        guard depth < limits.maxDepth else { throw RESPDecodingError.nestedTooDeep }
        // Every element takes at least three bytes (`_\r\n`): fewer left means not complete yet,
        // and the capacity reserved below is bounded by the bytes already received.
        guard bytes.count - position >= elementCount * 3 else { return nil }
        var elements: [RESPValue] = []
        elements.reserveCapacity(elementCount)
        for _ in 0..<elementCount {
            guard let element = try value(depth: depth + 1) else { return nil }
            elements.append(element)
        }
        return .some(elements)
    }

    private func integer(_ range: Range<Int>) throws -> Int64 {
        var index = range.lowerBound
        let negative = index < range.upperBound && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < range.upperBound else { throw RESPDecodingError.invalidInteger }
        var value: Int64 = 0
        while index < range.upperBound {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw RESPDecodingError.invalidInteger }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = negative
                ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !overflowA, !overflowB else { throw RESPDecodingError.invalidInteger }
            value = next
            index += 1
        }
        return value
    }

    private func double(_ range: Range<Int>) throws -> Double {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            // Digits, sign, point and exponent only: Swift's parser also takes hex floats and
            // words, which RESP does not send.
            let allowed = text.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            }
            guard allowed, let value = Double(text) else { throw RESPDecodingError.invalidDouble }
            return value
        }
    }

    private func checkBigNumber(_ range: Range<Int>) throws {
        var index = range.lowerBound
        if index < range.upperBound, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
        guard index < range.upperBound else { throw RESPDecodingError.invalidBigNumber }
        for i in index..<range.upperBound where bytes[i] &- UInt8(ascii: "0") >= 10 {
            throw RESPDecodingError.invalidBigNumber
        }
    }

    private func slice(_ range: Range<Int>) -> ByteBuffer {
        // In bounds: every range comes from positions checked against `bytes.count`, which is
        // `base.readableBytes`.
        base.getSlice(at: base.readerIndex + range.lowerBound, length: range.count)!
    }
}
