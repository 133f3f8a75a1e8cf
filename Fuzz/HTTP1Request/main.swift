// Fuzz target: the HTTP/1.1 request parser (`HTTP1RequestParser`, with `BodyFraming` for the
// bodies), on a client's bytes.
//
// Input: byte 0 chooses the options (TLS listener, header limit) and how the rest is split;
// the rest is what a client sends on one connection. Checked on every input:
// - no trap, no memory error, no endless loop (every call consumes bytes or asks for more);
// - the same events (heads, bodies, ends, the error) whether the bytes arrive all at once or in
//   pieces of 1 to 16 bytes: a request must never mean something else because of how TCP split it;
// - a head's raw lines are whole field lines, each a token, a colon and a value without CR, LF
//   or NUL, and never `Host` (which the parser moves to the authority).
@testable import CloakroomServer
import CloakroomProxy
import FuzzSupport
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let message = UnsafeRawBufferPointer(rebasing: input[1...])
    let secure = control & 1 == 1
    let maxHeaderBytes = control & 2 == 0 ? 1024 : 64
    let whole = events(message, pieces: nil, secure: secure, maxHeaderBytes: maxHeaderBytes)
    let split = events(message, pieces: Pieces(seed: control), secure: secure, maxHeaderBytes: maxHeaderBytes)
    require(sameOutcome(whole, split), "split differently, parsed differently:\n\(whole)\n---\n\(split)")
    return 0
}

/// Equal events. Errors compare by kind: which check fires first may differ with the reads,
/// the answer (400, 431) may not.
func sameOutcome(_ a: [String], _ b: [String]) -> Bool {
    a.map(kindOnly) == b.map(kindOnly)
}

func kindOnly(_ event: String) -> String {
    event.hasPrefix("error ") ? String(event.prefix { $0 != ":" }) : event
}

/// The parser's events for `message`, fed whole or in pieces, as comparable text. Consecutive
/// body parts are merged (their boundaries depend on the pieces).
func events(_ message: UnsafeRawBufferPointer, pieces: Pieces?, secure: Bool, maxHeaderBytes: Int) -> [String] {
    var parser = HTTP1RequestParser(maxHeaderBytes: maxHeaderBytes, secure: secure)
    var buffer = ByteBuffer()
    var out: [String] = []
    var body: [UInt8] = []
    var offset = 0
    var pieces = pieces
    func flushBody() {
        if !body.isEmpty { out.append("body \(body.count) \(fnv1a(body))") }
        body = []
    }
    while true {
        let count = pieces.map { _ in min(pieces!.next()!, message.count - offset) } ?? (message.count - offset)
        if count > 0 {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: message[offset..<(offset + count)]))
            offset += count
        }
        var steps = 0
        do {
            while let event = try parser.next(&buffer) {
                steps += 1
                require(steps < 100_000, "the parser returns events without consuming input")
                switch event {
                case .head(let head):
                    flushBody()
                    out.append(describe(head))
                case .body(let part):
                    require(part.readableBytes > 0, "an empty body part")
                    body += part.readableBytesView
                case .end:
                    flushBody()
                    out.append("end")
                }
            }
        } catch {
            flushBody()
            out.append("error \(error.kind): \(error.detail)")
            return out
        }
        if offset == message.count { break }
    }
    flushBody()
    out.append(parser.isAtHead ? "idle, \(buffer.readableBytes) bytes left" : "waiting, \(buffer.readableBytes) bytes left")
    return out
}

func describe(_ head: ClientRequestHead) -> String {
    let request = head.request
    var text = "head \(request.method.rawValue) \(request.scheme ?? "-") \(request.authority ?? "-") \(request.path ?? "-") \(head.version)"
    text += " keepAlive=\(head.keepAlive) upgrade=\(head.connectionUpgrade) cookies=\(head.cookieLines)"
    text += " framing=\(String(describing: head.framing.contentLength)),\(String(describing: head.framing.transferEncoding))"
    text += ",\(String(describing: head.framing.expect)),\(String(describing: head.framing.upgrade)),\(String(describing: head.framing.requestID))"
    for field in request.headerFields { text += "\n  \(field.name.rawName): \(field.value)" }
    let lines = String(buffer: head.lines)
    text += "\n  lines: \(lines.debugDescription)"
    if head.cookieLines > 0 {
        let cookie = head.lines.getSlice(at: head.firstCookieValue.lowerBound, length: head.firstCookieValue.count)
        require(cookie != nil, "the first Cookie value lies outside the lines")
    }
    head.lines.withUnsafeReadableBytes { lines in HTTP1Head.forEachLine(lines) { name, line in
        require(!name.isEmpty && name.allSatisfy(isTokenByte), "a raw line's name is not a token")
        require(line.count >= name.count + 3 && line[line.count - 2] == 13 && line[line.count - 1] == 10, "a raw line without its CRLF")
        let value = line[(name.count + 1)..<(line.count - 2)]
        require(!value.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 }), "CR, LF or NUL in a raw line's value")
        require(!(name.count == 4 && ASCIIText.equalsIgnoringCase(name, "host")), "Host among the raw lines")
    } }
    return text
}

func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
    default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

FuzzDriver.main(testOneInput)
