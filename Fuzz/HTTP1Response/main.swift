// Fuzz target: the HTTP/1.1 response parser (`HTTP1ResponseParser`, `UpstreamResponseHead`,
// `BodyFraming`), on an upstream's bytes.
//
// Input: byte 0 chooses whether the request was HEAD, the header limit and how the rest is
// split; the rest is what the upstream sends on one connection, then it closes. Checked:
// - no trap, no memory error, no endless loop;
// - the same events whether the bytes arrive whole or in pieces of 1 to 16 bytes;
// - a head's `response()` succeeds (the parser checked every line), keeps its status, and has
//   at most one `Content-Length`; a head that needs no policy has no control header.
@testable import CloakroomServer
import CloakroomProxy
import FuzzSupport
import HTTPTypes
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard let control = input.first else { return 0 }
    let message = UnsafeRawBufferPointer(rebasing: input[1...])
    let head = control & 1 == 1
    let maxHeaderBytes = control & 2 == 0 ? 1024 : 64
    let whole = events(message, pieces: nil, requestWasHEAD: head, maxHeaderBytes: maxHeaderBytes)
    let split = events(message, pieces: Pieces(seed: control), requestWasHEAD: head, maxHeaderBytes: maxHeaderBytes)
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

func events(_ message: UnsafeRawBufferPointer, pieces: Pieces?, requestWasHEAD: Bool, maxHeaderBytes: Int) -> [String] {
    var parser = HTTP1ResponseParser(maxHeaderBytes: maxHeaderBytes)
    parser.requestWasHEAD = requestWasHEAD
    var buffer = ByteBuffer()
    var out: [String] = []
    var body: [UInt8] = []
    var offset = 0
    var pieces = pieces
    func flushBody() {
        if !body.isEmpty { out.append("body \(body.count) \(fnv1a(body))") }
        body = []
    }
    func take(_ event: HTTP1ResponseParser.Event) {
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
                take(event)
            }
        } catch {
            flushBody()
            out.append("error \(error.kind): \(error.detail)")
            return out
        }
        if offset == message.count { break }
    }
    if let last = parser.closed() { take(last) }
    flushBody()
    out.append("closed, stopped=\(parser.isStopped), \(buffer.readableBytes) bytes left")
    return out
}

func describe(_ head: UpstreamResponseHead) -> String {
    let response: HTTPResponse
    do {
        response = try head.response()
    } catch {
        fatalError("a head the parser accepted does not convert: \(error)")
    }
    require(response.status.code == head.code, "the status changed")
    require(response.headerFields[values: .contentLength].count <= 1, "more than one Content-Length")
    if !head.needsPolicy {
        let control: [HTTPField.Name] = [.sessionLogin, .sessionUpdate, .sessionLogout]
        require(!response.headerFields.contains { control.contains($0.name) }, "a control header in a head that needs no policy")
    }
    var text = "head \(head.code) keepAlive=\(head.keepAlive) length=\(head.hasContentLength) policy=\(head.needsPolicy)"
    text += " bytes=\(head.bytes.readableBytes) \(fnv1a(head.bytes.readableBytesView))"
    return text
}

FuzzDriver.main(testOneInput)
