// Fuzz target: the RESP2/RESP3 reply parser (`RESPParser`), on a Redis server's bytes.
//
// Input: byte 0 chooses the limits (the defaults, or small ones that the input can reach) and
// how the rest is split; the rest is what the server sends. Checked:
// - no trap, no memory error, no endless loop; limits hold (depth, counts, lengths);
// - the same replies, and the same error, whether the bytes arrive whole or in pieces of 1 to
//   16 bytes (a reply is parsed again from its start until it is complete);
// - a reply that parsed consumed bytes, and is within the limits.
import CloakroomRedis
import FuzzSupport
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let message = UnsafeRawBufferPointer(rebasing: input[1...])
    // `maxReplyBytes` bounds what is buffered while a reply is incomplete, so it depends on the
    // pieces by design: kept out of reach here.
    let limits = control & 1 == 0
        ? RESPLimits(maxBulkLength: 8 << 20, maxDepth: 8, maxAggregateCount: 1 << 20, maxLineLength: 64 << 10, maxReplyBytes: .max)
        : RESPLimits(maxBulkLength: 16, maxDepth: 3, maxAggregateCount: 8, maxLineLength: 24, maxReplyBytes: .max)
    let whole = replies(message, pieces: nil, limits: limits)
    let split = replies(message, pieces: Pieces(seed: control), limits: limits)
    require(whole == split, "split differently, parsed differently:\n\(whole)\n---\n\(split)")
    return 0
}

func replies(_ message: UnsafeRawBufferPointer, pieces: Pieces?, limits: RESPLimits) -> [String] {
    let parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var out: [String] = []
    var offset = 0
    var pieces = pieces
    while true {
        let count = pieces.map { _ in min(pieces!.next()!, message.count - offset) } ?? (message.count - offset)
        if count > 0 {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: message[offset..<(offset + count)]))
            offset += count
        }
        do {
            while true {
                let before = buffer.readableBytes
                guard let value = try parser.parse(&buffer) else { break }
                require(buffer.readableBytes < before, "a reply consumed nothing")
                check(value, depth: 0, limits: limits)
                out.append(String(describing: value))
            }
        } catch {
            out.append("error \(error)")
            return out
        }
        if offset == message.count { break }
    }
    out.append("\(buffer.readableBytes) bytes left")
    return out
}

/// The limits hold for every part of a parsed reply.
func check(_ value: RESPValue, depth: Int, limits: RESPLimits) {
    func bulk(_ bytes: ByteBuffer) { require(bytes.readableBytes <= limits.maxBulkLength, "a bulk string over the limit") }
    func aggregate(_ elements: [RESPValue]) {
        require(depth + 1 <= limits.maxDepth, "nested deeper than the limit")
        require(elements.count <= limits.maxAggregateCount, "an aggregate over the limit")
        for element in elements { check(element, depth: depth + 1, limits: limits) }
    }
    switch value {
    case .bulkString(let bytes), .verbatimString(_, let bytes): bulk(bytes)
    case .array(let elements), .set(let elements), .push(let elements): aggregate(elements)
    case .map(let pairs):
        require(depth + 1 <= limits.maxDepth, "nested deeper than the limit")
        require(pairs.count * 2 <= limits.maxAggregateCount, "a map over the limit")
        for pair in pairs {
            check(pair.key, depth: depth + 1, limits: limits)
            check(pair.value, depth: depth + 1, limits: limits)
        }
    case .simpleString, .error, .integer, .null, .double, .boolean, .bigNumber: break
    }
}

FuzzDriver.main(testOneInput)
