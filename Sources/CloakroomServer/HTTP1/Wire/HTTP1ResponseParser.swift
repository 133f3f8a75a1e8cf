import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Parses an upstream connection's responses from its read buffer: the head straight into an
/// `HTTPResponse`, the body as slices of the buffer.
///
/// Interim responses (1xx other than 101) are read and dropped: the proxy answers a client's
/// `Expect: 100-continue` itself. A 101 ends parsing: the bytes after it belong to the tunnel.
/// A response with both `Content-Length` and `Transfer-Encoding`, differing lengths, or a
/// coding other than `chunked` is malformed: the exchange fails with 502 rather than guess
/// where the body ends.
struct HTTP1ResponseParser {
    struct Head {
        var response: HTTPResponse
        var keepAlive: Bool
    }

    enum Event {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    private enum State {
        case head
        case body(BodyFraming)
        case stopped
    }

    private var state = State.head
    private var scanned = 0
    private var stopAfterBody = false
    /// The request was `HEAD`: whatever the fields say, the response has no body.
    var requestWasHEAD = false
    let maxHeaderBytes: Int

    init(maxHeaderBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// The body runs until the connection closes (no length, not chunked).
    var readsUntilClose: Bool {
        if case .body(let framing) = state { return framing.state == .untilClose }
        return false
    }

    var isStopped: Bool {
        if case .stopped = state { return true }
        return false
    }

    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1WireError) -> Event? {
        while true {
            switch state {
            case .stopped:
                return nil
            case .body(var framing):
                let step = try framing.next(&buffer)
                switch step {
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
            case .head:
                guard let head = try parseHead(&buffer) else { return nil }
                let code = head.response.status.code
                if code >= 100 && code < 200 && code != 101 {
                    state = .head  // interim: no body, the final response follows
                    continue
                }
                return .head(head)
            }
        }
    }

    /// The connection closed: the end of a body read until the close, else nothing.
    mutating func closed() -> Event? {
        guard readsUntilClose else { return nil }
        state = .stopped
        return .end
    }

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws(HTTP1WireError) -> Head? {
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(Head, BodyFraming.State, Int)?, HTTP1WireError> in
            do throws(HTTP1WireError) {
                guard let end = try HTTP1Head.end(of: bytes, scanned: &scanned) else {
                    if bytes.count > maxHeaderBytes { throw HTTP1WireError(kind: .headersTooLarge, detail: "response head too large") }
                    return .success(nil)
                }
                if end > maxHeaderBytes { throw HTTP1WireError(kind: .headersTooLarge, detail: "response head too large") }
                let (head, framing) = try head(bytes[0..<(end - 2)])
                return .success((head, framing, end))
            } catch {
                return .failure(error)
            }
        }
        guard let (head, framing, length) = try parsed.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
        scanned = 0
        state = .body(BodyFraming(framing, maxLineBytes: maxHeaderBytes))
        stopAfterBody = head.response.status.code == 101
        return head
    }

    private func head(_ bytes: UnsafeRawBufferPointer.SubSequence) throws(HTTP1WireError) -> (Head, BodyFraming.State) {
        var lines = LineIterator(bytes)
        guard let statusLine = lines.next() else { throw .malformed("empty response") }
        let (version, status) = try Self.statusLine(statusLine)
        var fields = HTTPFields()
        fields.reserveCapacity(12)
        var contentLength: Int?
        var chunked = false, close = false, keepAlive = false
        while let line = lines.next() {
            let (field, name) = try HTTP1Head.fieldAndName(line)
            switch name.count {
            case 10 where ASCIIText.equalsIgnoringCase(name, "connection"):
                field.withUnsafeBytesOfValue { value in
                    HTTP1Head.forEachListElement(value) { token in
                        if ASCIIText.equalsIgnoringCase(token, "close") {
                            close = true
                        } else if ASCIIText.equalsIgnoringCase(token, "keep-alive") {
                            keepAlive = true
                        }
                    }
                }
            case 14 where ASCIIText.equalsIgnoringCase(name, "content-length"):
                let value = field.value
                guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .malformed("invalid Content-Length")
                }
                let length = Int(value)!
                if let contentLength {
                    guard contentLength == length else { throw .malformed("differing Content-Lengths") }
                    continue  // the same length twice: kept once
                }
                contentLength = length
            case 17 where ASCIIText.equalsIgnoringCase(name, "transfer-encoding"):
                guard !chunked else { throw .malformed("repeated Transfer-Encoding") }
                chunked = field.withUnsafeBytesOfValue { ASCIIText.equalsIgnoringCase($0, "chunked") }
                guard chunked else { throw .malformed("unsupported transfer coding") }
            default:
                break
            }
            fields.append(field)
        }
        if chunked && contentLength != nil { throw .malformed("both Content-Length and Transfer-Encoding") }
        let code = status.code
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
        return (Head(response: HTTPResponse(status: status, headerFields: fields), keepAlive: persistent), framing)
    }

    /// `HTTP-version SP status-code SP [ reason-phrase ]` (a missing space and reason tolerated).
    private static func statusLine(_ line: UnsafeRawBufferPointer.SubSequence) throws(HTTP1WireError) -> (HTTPVersion, HTTPResponse.Status) {
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
        var reason = ""
        if line.count > 12 {
            guard line[start + 12] == HTTP1Head.space else { throw .malformed("invalid status line") }
            let phrase = line[(start + 13)...]
            for byte in phrase where byte < HTTP1Head.space && byte != HTTP1Head.tab || byte == 0x7F {
                throw .malformed("control character in the reason phrase")
            }
            reason = String(decoding: UnsafeRawBufferPointer(rebasing: phrase), as: UTF8.self)
        }
        return (version, HTTPResponse.Status(code: code, reasonPhrase: reason))
    }
}
