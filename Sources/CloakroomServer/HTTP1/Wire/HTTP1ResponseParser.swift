import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Parses an upstream connection's responses from its read buffer: the head checked and kept as
/// bytes (``UpstreamResponseHead``), the body as slices of the buffer.
///
/// Interim responses (1xx other than 101) are read and dropped: the proxy answers a client's
/// `Expect: 100-continue` itself. A 101 ends parsing: the bytes after it belong to the tunnel.
/// A response with both `Content-Length` and `Transfer-Encoding`, differing lengths, or a
/// coding other than `chunked` is malformed: the exchange fails with 502 rather than guess
/// where the body ends.
struct HTTP1ResponseParser {
    typealias Event = HTTP1Part<UpstreamResponseHead>

    private var reader: MessageReader
    /// The request was `HEAD`: whatever the fields say, the response has no body.
    var requestWasHEAD = false

    init(maxHeaderBytes: Int) {
        reader = MessageReader(maxHeaderBytes: maxHeaderBytes)
    }

    /// The body runs until the connection closes (no length, not chunked).
    var readsUntilClose: Bool {
        if case .body(let framing) = reader.state { return framing.state == .untilClose }
        return false
    }

    var isStopped: Bool {
        if case .stopped = reader.state { return true }
        return false
    }

    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1WireError) -> Event? {
        while true {
            switch reader.state {
            case .stopped:
                return nil
            case .body(let framing):
                return try reader.bodyPart(framing, &buffer)
            case .head:
                let requestWasHEAD = self.requestWasHEAD
                guard let (scan, length) = try reader.head(in: buffer, { bytes throws(HTTP1WireError) in
                    try Self.scan(bytes, requestWasHEAD: requestWasHEAD)
                }) else { return nil }
                let head = UpstreamResponseHead(
                    bytes: buffer.getSlice(at: buffer.readerIndex, length: length - 2)!, code: scan.code, keepAlive: scan.keepAlive,
                    hasContentLength: scan.hasContentLength, needsPolicy: scan.needsPolicy)
                buffer.moveReaderIndex(forwardBy: length)
                if scan.code >= 100 && scan.code < 200 && scan.code != 101 {
                    reader.skipHead()  // interim: no body, the final response follows
                    continue
                }
                reader.startBody(scan.framing, stopAfter: scan.code == 101)
                return .head(head)
            }
        }
    }

    /// The connection closed: the end of a body read until the close, else nothing.
    mutating func closed() -> Event? {
        guard readsUntilClose else { return nil }
        reader.state = .stopped
        return .end
    }

    /// What the head says, found in one pass that also checks every line.
    private struct Scan {
        var code: Int
        var keepAlive: Bool
        var hasContentLength: Bool
        var needsPolicy: Bool
        var framing: BodyFraming.State
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer.SubSequence, requestWasHEAD: Bool) throws(HTTP1WireError) -> Scan {
        var lines = LineIterator(bytes)
        guard let statusLine = lines.next() else { throw .malformed("empty response") }
        let (version, status) = try Self.statusLine(statusLine, reason: false)
        var contentLength: Int?
        var chunked = false, close = false, keepAlive = false, needsPolicy = false
        while let line = lines.next() {
            let bounds = try HTTP1Head.fieldBounds(line)
            let name = line[line.startIndex..<bounds.colon]
            let value = line[bounds.value]
            switch ResponseFieldRule.of(name: name) {
            case .control, .setCookie: needsPolicy = true
            case .remove, .forward: break
            }
            switch name.count {
            case 10 where ASCIIText.equalsIgnoringCase(name, "connection"):
                HTTP1Head.forEachListElement(value) { option in
                    if ASCIIText.equalsIgnoringCase(option, "close") {
                        close = true
                    } else if ASCIIText.equalsIgnoringCase(option, "keep-alive") {
                        keepAlive = true
                    }
                    if !ResponseFieldRule.isPlainConnectionOption(option) { needsPolicy = true }
                }
            case 14 where ASCIIText.equalsIgnoringCase(name, "content-length"):
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .malformed("invalid Content-Length")
                }
                let length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                if let contentLength {
                    guard contentLength == length else { throw .malformed("differing Content-Lengths") }
                    needsPolicy = true  // the same length twice: forwarded once
                }
                contentLength = length
            case 17 where ASCIIText.equalsIgnoringCase(name, "transfer-encoding"):
                guard !chunked else { throw .malformed("repeated Transfer-Encoding") }
                chunked = ASCIIText.equalsIgnoringCase(value, "chunked")
                guard chunked else { throw .malformed("unsupported transfer coding") }
            default:
                break
            }
        }
        if chunked && contentLength != nil { throw .malformed("both Content-Length and Transfer-Encoding") }
        let code = status.code
        // RFC 9110 §8.6: no `Content-Length` in a 1xx or 204; the policy's path drops it.
        if contentLength != nil && (code < 200 || code == 204) { needsPolicy = true }
        let framing: BodyFraming.State
        var persistent = version == .http1_1 ? !close : keepAlive && !close
        if requestWasHEAD || code < 200 || code == 204 || code == 304 {
            framing = BodyFraming.noBody
        } else if chunked {
            framing = .chunkSize
        } else if let contentLength {
            framing = .length(remaining: contentLength)
        } else {
            framing = .untilClose
            persistent = false
        }
        return Scan(code: code, keepAlive: persistent, hasContentLength: contentLength != nil, needsPolicy: needsPolicy, framing: framing)
    }

    /// `HTTP-version SP status-code SP [ reason-phrase ]` (a missing space and reason tolerated).
    static func statusLine(
        _ line: UnsafeRawBufferPointer.SubSequence, reason: Bool = true
    ) throws(HTTP1WireError) -> (HTTPVersion, HTTPResponse.Status) {
        let start = line.startIndex
        guard line.count >= 12, let version = HTTP1Head.version(line[start..<(start + 8)]), line[start + 8] == HTTP1Head.space else {
            throw .malformed("invalid status line")
        }
        var code = 0
        for index in (start + 9)..<(start + 12) {
            let digit = line[index]
            guard digit >= 0x30 && digit <= 0x39 else { throw .malformed("invalid status code") }
            code = code * 10 + Int(digit - 0x30)
        }
        guard code >= 100 else { throw .malformed("invalid status code") }
        var phraseText = ""
        if line.count > 12 {
            guard line[start + 12] == HTTP1Head.space else { throw .malformed("invalid status line") }
            let phrase = line[(start + 13)...]
            for byte in phrase where byte < HTTP1Head.space && byte != HTTP1Head.tab || byte == 0x7F {
                throw .malformed("control character in the reason phrase")
            }
            if reason { phraseText = String(decoding: UnsafeRawBufferPointer(rebasing: phrase), as: UTF8.self) }
        }
        return (version, HTTPResponse.Status(code: code, reasonPhrase: phraseText))
    }
}
