// Fuzz target: the chunked-body decoder (`BodyFraming` in `.chunkSize`), alone.
//
// Input: byte 0 chooses the mode, the line limit and how the rest is split.
// - Mode "raw": the rest is a chunked body as a peer sends it. The decoded bytes, the end and
//   the error must be the same whether it arrives whole or in pieces of 1 to 16 bytes, and
//   never more bytes come out than went in.
// - Mode "encode": the rest is a payload, cut into chunks of sizes it also chooses, written
//   with extensions and a trailer as a well-behaved peer would. Decoding must give back exactly
//   the payload, end exactly at the end of the encoding, and leave nothing unread.
@testable import CloakroomServer
import FuzzSupport
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let rest = UnsafeRawBufferPointer(rebasing: input[1...])
    let maxLineBytes = control & 2 == 0 ? 256 : 16
    if control & 1 == 0 {
        let whole = decode(Array(rest), pieces: nil, maxLineBytes: maxLineBytes)
        let split = decode(Array(rest), pieces: Pieces(seed: control), maxLineBytes: maxLineBytes)
        // Errors compare by kind: which check fires first may differ, the answer may not.
        let kind = { (outcome: String) in String(outcome.prefix { $0 != ":" }) }
        require(whole.body == split.body && kind(whole.outcome) == kind(split.outcome), "split differently, decoded differently: \(whole.outcome) / \(split.outcome)")
        require(whole.body.count <= rest.count, "more body bytes than input bytes")
    } else {
        let (encoded, payload) = encode(rest, seed: control)
        for pieces in [nil, Pieces(seed: control)] {
            let decoded = decode(encoded, pieces: pieces, maxLineBytes: 256)
            require(decoded.outcome == "end, 0 bytes left", "a well-formed body did not decode: \(decoded.outcome)")
            require(decoded.body == payload, "the payload changed")
        }
    }
    return 0
}

func decode(_ message: [UInt8], pieces: Pieces?, maxLineBytes: Int) -> (body: [UInt8], outcome: String) {
    var framing = BodyFraming(.chunkSize, maxLineBytes: maxLineBytes)
    var buffer = ByteBuffer()
    var body: [UInt8] = []
    var offset = 0
    var pieces = pieces
    while true {
        let count = pieces.map { _ in min(pieces!.next()!, message.count - offset) } ?? (message.count - offset)
        buffer.writeBytes(message[offset..<(offset + count)])
        offset += count
        var steps = 0
        loop: while true {
            steps += 1
            require(steps < 1_000_000, "the decoder returns without consuming input")
            do {
                switch try framing.next(&buffer) {
                case .body(let part):
                    require(part.readableBytes > 0, "an empty body part")
                    body += part.readableBytesView
                case .end:
                    return (body, "end, \(message.count - (offset - buffer.readableBytes)) bytes left")
                case .needMore:
                    break loop
                }
            } catch {
                return (body, "error \(error.kind): \(error.detail)")
            }
        }
        if offset == message.count { return (body, "needs more") }
    }
}

/// A chunked encoding of part of `bytes`, and that part. The first bytes choose chunk sizes,
/// extensions and a trailer; the rest is the payload.
func encode(_ bytes: UnsafeRawBufferPointer, seed: UInt8) -> (encoded: [UInt8], payload: [UInt8]) {
    let sizes = bytes.prefix(4).map { Int($0) % 40 }
    let payload = Array(bytes.dropFirst(4))
    var encoded: [UInt8] = []
    var offset = 0, index = 0
    while offset < payload.count {
        let size = min(max(sizes.isEmpty ? 7 : sizes[index % sizes.count], 1), payload.count - offset)
        var line = String(size, radix: 16, uppercase: index % 2 == 0)
        if seed & 4 != 0 { line += ";ext=\"v\(index)\"" }
        encoded += Array((line + "\r\n").utf8) + payload[offset..<(offset + size)] + [13, 10]
        offset += size
        index += 1
    }
    encoded += Array("0\r\n".utf8)
    if seed & 8 != 0 { encoded += Array("X-Trailer: \(index)\r\n".utf8) }
    encoded += [13, 10]
    return (encoded, payload)
}

FuzzDriver.main(testOneInput)
