import NIOCore

/// Where a message body ends (RFC 9112 §6.3) and how far it has been read: a declared length,
/// chunks, or the connection's close. Chunked bodies are decoded here (sizes, extensions and
/// trailers checked, then dropped) and handed on as slices of the read buffer, without copying.
struct BodyFraming {
    enum State: Equatable {
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        /// An upstream response without a length: its body is everything until the close.
        case untilClose
        case done
    }

    enum Step {
        case body(ByteBuffer)
        case end
        case needMore
    }

    var state: State
    private var trailerBytes = 0
    /// Bounds a chunk-size line and the trailer section, which are read whole before use.
    let maxLineBytes: Int

    init(_ state: State, maxLineBytes: Int) {
        self.state = state
        self.maxLineBytes = maxLineBytes
    }

    static let noBody = State.length(remaining: 0)

    /// The next part of the body in `buffer` (consumed from it), its end, or a request for more.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1WireError) -> Step {
        while true {
            switch state {
            case .length(let remaining):
                if remaining == 0 {
                    state = .done
                    return .end
                }
                guard buffer.readableBytes > 0 else { return .needMore }
                let count = min(remaining, buffer.readableBytes)
                state = .length(remaining: remaining - count)
                return .body(buffer.readSlice(length: count)!)
            case .chunkSize:
                guard let (size, lineLength) = try chunkSizeLine(buffer) else { return .needMore }
                buffer.moveReaderIndex(forwardBy: lineLength)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return .needMore }
                let count = min(remaining, buffer.readableBytes)
                state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
                return .body(buffer.readSlice(length: count)!)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return .needMore }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .malformed("chunk data not followed by CRLF") }
                state = .chunkSize
            case .trailers:
                guard let lineLength = try trailerLine(buffer) else { return .needMore }
                buffer.moveReaderIndex(forwardBy: lineLength)
                if lineLength == 2 {
                    state = .done
                    return .end
                }
                trailerBytes += lineLength
                guard trailerBytes <= maxLineBytes else { throw HTTP1WireError(kind: .headersTooLarge, detail: "trailers too large") }
            case .untilClose:
                guard buffer.readableBytes > 0 else { return .needMore }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .done:
                return .end
            }
        }
    }

    /// `chunk-size [ chunk-ext ] CRLF`: the size and the line's length with its CRLF.
    private func chunkSizeLine(_ buffer: ByteBuffer) throws(HTTP1WireError) -> (Int, Int)? {
        let found = buffer.withUnsafeReadableBytes { bytes -> Result<(Int, Int)?, HTTP1WireError> in
            var size = 0, index = 0
            while index < bytes.count, let digit = Self.hexValue(bytes[index]) {
                guard index < 15 else { return .failure(.malformed("chunk size too large")) }
                size = size << 4 | digit
                index += 1
            }
            if index == bytes.count { return bytes.count > maxLineBytes ? .failure(.malformed("chunk size line too long")) : .success(nil) }
            guard index > 0 else { return .failure(.malformed("invalid chunk size")) }
            // Extensions (`;name=value`) are allowed and ignored; nothing else may follow the size.
            while index < bytes.count && (bytes[index] == HTTP1Head.space || bytes[index] == HTTP1Head.tab) { index += 1 }
            if index < bytes.count && bytes[index] == UInt8(ascii: ";") {
                while index < bytes.count && bytes[index] != HTTP1Head.cr && bytes[index] != HTTP1Head.lf {
                    if bytes[index] < HTTP1Head.space && bytes[index] != HTTP1Head.tab || bytes[index] == 0x7F {
                        return .failure(.malformed("control character in a chunk extension"))
                    }
                    index += 1
                }
            }
            guard index + 1 < bytes.count else {
                return bytes.count > maxLineBytes ? .failure(.malformed("chunk size line too long")) : .success(nil)
            }
            guard bytes[index] == HTTP1Head.cr, bytes[index + 1] == HTTP1Head.lf else { return .failure(.malformed("invalid chunk size line")) }
            // A complete line is held to the same bound as an incomplete one, so whether it
            // arrived in one read or several never changes the answer.
            guard index + 2 <= maxLineBytes else { return .failure(.malformed("chunk size line too long")) }
            return .success((size, index + 2))
        }
        return try found.get()
    }

    /// One trailer line's length with its CRLF (2 for the empty line ending the message).
    /// Only the bytes the trailer section still has room for are looked at (and the empty line
    /// that ends it), so a line too long is refused the same way however the reads split it.
    private func trailerLine(_ buffer: ByteBuffer) throws(HTTP1WireError) -> Int? {
        let room = max(maxLineBytes - trailerBytes, 2)
        let found = buffer.withUnsafeReadableBytes { whole -> Result<Int?, HTTP1WireError> in
            let bytes = UnsafeRawBufferPointer(rebasing: whole[0..<min(whole.count, room)])
            for index in 0..<bytes.count where bytes[index] == HTTP1Head.lf {
                guard index > 0, bytes[index - 1] == HTTP1Head.cr else { return .failure(.malformed("bare LF in trailers")) }
                if index > 1 {
                    do throws(HTTP1WireError) {
                        _ = try HTTP1Head.fieldBounds(bytes[0..<(index - 1)])
                    } catch { return .failure(error) }
                }
                return .success(index + 1)
            }
            return whole.count > room ? .failure(HTTP1WireError(kind: .headersTooLarge, detail: "trailers too large")) : .success(nil)
        }
        return try found.get()
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
