import NIOCore

/// What a parser hands on: a head, a piece of body (a slice of the read buffer), the end.
enum HTTP1Part<Head> {
    case head(Head)
    case body(ByteBuffer)
    case end
}

/// Where a parser is in a stream of HTTP/1.1 messages, the part requests and responses share:
/// looking for a head (scanned once however it arrives), reading a body through its
/// ``BodyFraming``, or stopped (after an upgrade, the bytes belong to a tunnel).
struct MessageReader {
    enum State {
        case head
        case body(BodyFraming)
        case stopped
    }

    var state = State.head
    /// Where the search for the current head's end resumes.
    private var scanned = 0
    /// Stop once the current message's body ends.
    var stopAfterBody = false
    let maxHeaderBytes: Int

    init(maxHeaderBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
    }

    var isAtHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// Nothing has been scanned of the head yet.
    var atHeadStart: Bool { scanned == 0 }

    /// The next part of the body being read, or nil when more bytes are needed; its end moves
    /// on to the next head, or stops.
    mutating func bodyPart<Head>(_ framing: BodyFraming, _ buffer: inout ByteBuffer) throws(HTTP1WireError) -> HTTP1Part<Head>? {
        var framing = framing
        switch try framing.next(&buffer) {
        case .needMore:
            state = .body(framing)
            return nil
        case .body(let slice):
            state = .body(framing)
            return .body(slice)
        case .end:
            state = stopAfterBody ? .stopped : .head
            return .end
        }
    }

    /// Finds a whole head at the start of `buffer` and hands `parse` its bytes (status or
    /// request line and field lines, the last CRLF cut off). Returns what `parse` made and the
    /// head's length with its empty line, or nil when more bytes are needed; the caller
    /// consumes the head and calls ``startBody(_:stopAfter:)``.
    mutating func head<Parsed>(
        in buffer: ByteBuffer, _ parse: (UnsafeRawBufferPointer.SubSequence) throws(HTTP1WireError) -> Parsed
    ) throws(HTTP1WireError) -> (parsed: Parsed, length: Int)? {
        let limit = maxHeaderBytes
        // Moved out of a variable rather than returned through a `Result`: the parsed head
        // moves on as the only copy.
        var parsed: Parsed?
        var failure: HTTP1WireError?
        let length = buffer.withUnsafeReadableBytes { bytes -> Int in
            do throws(HTTP1WireError) {
                // Only the first `limit` bytes are looked at, so the answer to a head that is
                // too large (431) never depends on how the reads split it, nor on what follows
                // the limit (a bare LF there would otherwise make it 400 in one read).
                let window = UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, limit)])
                guard let end = try HTTP1Head.end(of: window, scanned: &scanned) else {
                    if bytes.count > limit { throw HTTP1WireError(kind: .headersTooLarge, detail: "head too large") }
                    return 0
                }
                parsed = try parse(bytes[0..<(end - 2)])
                return end
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        guard let parsed = parsed.take() else { return nil }
        return (parsed, length)
    }

    /// After an interim head (1xx): no body, and the next head follows.
    mutating func skipHead() {
        scanned = 0
        state = .head
    }

    /// After a head: its body, framed as `framing`.
    mutating func startBody(_ framing: BodyFraming.State, stopAfter: Bool) {
        scanned = 0
        state = .body(BodyFraming(framing, maxLineBytes: maxHeaderBytes))
        stopAfterBody = stopAfter
    }
}
