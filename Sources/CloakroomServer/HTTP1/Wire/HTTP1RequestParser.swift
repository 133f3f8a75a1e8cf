import CloakroomProxy
import Glibc
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Parses the requests of one client connection, pipelined ones included, from its read
/// buffer: the head straight into an `HTTPRequest`, then the body as slices of the buffer.
///
/// Framing is where requests get smuggled, so it is strict (RFC 9112 §6): `Transfer-Encoding`
/// must be exactly `chunked` and never beside `Content-Length` or in HTTP/1.0; one
/// `Content-Length`, digits only; one `Host` (required in HTTP/1.1). At most one
/// `Authorization`: the credentials the proxy judges are the only ones a backend may see.
struct HTTP1RequestParser {
    typealias Event = HTTP1Part<ClientRequestHead>

    private var reader: MessageReader
    let secure: Bool
    /// The raw field lines of the latest head, reused: each head's ``ClientRequestHead/lines``
    /// shares it, and once that exchange lets go of them the next head finds it unshared and
    /// writes into the same memory.
    private var lines = ByteBuffer()

    init(maxHeaderBytes: Int, secure: Bool) {
        reader = MessageReader(maxHeaderBytes: maxHeaderBytes)
        self.secure = secure
    }

    /// Between requests: the next event would be a head.
    var isAtHead: Bool { reader.isAtHead }

    /// The next event from `buffer` (consumed from it), or nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1WireError) -> Event? {
        switch reader.state {
        case .stopped:
            return nil
        case .body(let framing):
            return try reader.bodyPart(framing, &buffer)
        case .head:
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            while reader.atHeadStart && buffer.readableBytes >= 2 && buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
            }
            let secure = self.secure
            guard let (head, length) = try reader.head(in: buffer, { bytes throws(HTTP1WireError) in try Self.head(bytes, secure: secure, lines: &lines) }) else {
                return nil
            }
            buffer.moveReaderIndex(forwardBy: length)
            let framing: BodyFraming.State
            if head.framing.transferEncoding != nil {
                framing = .chunkSize
            } else if let length = head.framing.contentLength {
                framing = .length(remaining: Int(length)!)
            } else {
                framing = BodyFraming.noBody
            }
            // An upgrade request is the connection's last: after it come the tunnel's bytes.
            reader.startBody(framing, stopAfter: head.version == .http1_1 && head.connectionUpgrade && head.framing.upgrade != nil)
            return .head(head)
        }
    }

    /// The head without its final CRLF: request line, then field lines, each ending in CRLF
    /// except the last. The field lines the policy does not read go to `lines` as they came.
    private static func head(
        _ bytes: UnsafeRawBufferPointer.SubSequence, secure: Bool, lines: inout ByteBuffer
    ) throws(HTTP1WireError) -> ClientRequestHead {
        lines.clear()
        // Copied lines never outgrow the head: each is at most its own bytes and CRLF.
        lines.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        // Parsed into a variable outside the closure and moved out of it at the end: a head
        // returned through a `Result` or a tuple was copied once more, a retain per string.
        var head: ClientRequestHead?
        var failure: HTTP1WireError?
        let count = lines.withUnsafeMutableWritableBytes { out -> Int in
            var raw = HeadBytes(out)
            do throws(HTTP1WireError) {
                head = try fields(bytes, secure: secure, raw: &raw)
            } catch {
                failure = error
            }
            return raw.count
        }
        if let failure { throw failure }
        lines.moveWriterIndex(forwardBy: count)
        head!.lines = lines
        return head.take()!
    }

    /// ``head(_:secure:lines:)``'s work, the raw lines written through `raw`.
    private static func fields(
        _ bytes: UnsafeRawBufferPointer.SubSequence, secure: Bool, raw: inout HeadBytes
    ) throws(HTTP1WireError) -> ClientRequestHead {
        var lines = LineIterator(bytes)
        guard let requestLine = lines.next() else { throw .malformed("empty request") }
        let (method, target, version) = try Self.requestLine(requestLine)
        // Not reserved: a request with no field the policy reads allocates none.
        var fields = HTTPFields()
        var cookieLines = 0, firstCookieValue = 0..<0
        var authority: String?
        var authorization = false
        var framing = FramingFields()
        var close = false, keepAlive = false, upgrade = false, h2c = false
        while let line = lines.next() {
            let bounds = try HTTP1Head.fieldBounds(line)
            let name = UnsafeRawBufferPointer(rebasing: line[line.startIndex..<bounds.colon])
            let value = UnsafeRawBufferPointer(rebasing: line[bounds.value])
            switch name.count {
            case 4 where ASCIIText.equalsIgnoringCase(name, "host"):
                guard authority == nil else { throw .malformed("repeated Host") }
                authority = HTTP1Head.text(value)
                continue
            case 6 where framing.expect == nil && ASCIIText.equalsIgnoringCase(name, "expect"):
                framing.expect = HTTP1Head.text(value)
            case 6 where PolicyRequestFields.isCookie(name: name):
                // Copied as a raw line below; where its value will be, for the session cookie.
                if cookieLines == 0 {
                    let start = raw.count + (bounds.value.lowerBound - line.startIndex)
                    firstCookieValue = start..<(start + value.count)
                }
                cookieLines += 1
            case 7 where ASCIIText.equalsIgnoringCase(name, "upgrade"):
                // `h2c` is never relayed: its tunnel would carry HTTP/2 requests past routing,
                // authorization and identity stripping. The request is served as HTTP/1.1
                // (RFC 9110 §7.8 lets a server ignore `Upgrade`); the field, hop-by-hop, is dropped.
                HTTP1Head.forEachListElement(value) { token in
                    if ASCIIText.equalsIgnoringCase(token, "h2c") { h2c = true }
                }
                if framing.upgrade == nil { framing.upgrade = HTTP1Head.text(value) }
            case 10 where ASCIIText.equalsIgnoringCase(name, "connection"):
                HTTP1Head.forEachListElement(value) { token in
                    if ASCIIText.equalsIgnoringCase(token, "close") {
                        close = true
                    } else if ASCIIText.equalsIgnoringCase(token, "keep-alive") {
                        keepAlive = true
                    } else if ASCIIText.equalsIgnoringCase(token, "upgrade") {
                        upgrade = true
                    }
                }
            case 12:
                if framing.requestID == nil && ASCIIText.equalsIgnoringCase(name, "x-request-id") {
                    framing.requestID = HTTP1Head.text(value)
                } else if framing.contentType == nil && ASCIIText.equalsIgnoringCase(name, "content-type") {
                    framing.contentType = HTTP1Head.text(value)
                }
            case 13 where ASCIIText.equalsIgnoringCase(name, "authorization"):
                // One set of credentials per request: of two fields the proxy would judge one
                // and a backend could read the other (nginx: "client sent duplicate header line").
                guard !authorization else { throw .malformed("repeated Authorization") }
                authorization = true
            case 14 where ASCIIText.equalsIgnoringCase(name, "content-length"):
                guard framing.contentLength == nil else { throw .malformed("repeated Content-Length") }
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .malformed("invalid Content-Length")
                }
                framing.contentLength = HTTP1Head.text(value)
            case 17 where ASCIIText.equalsIgnoringCase(name, "transfer-encoding"):
                guard framing.transferEncoding == nil else { throw .malformed("repeated Transfer-Encoding") }
                guard ASCIIText.equalsIgnoringCase(value, "chunked") else { throw .malformed("unsupported transfer coding") }
                framing.transferEncoding = "chunked"
            default:
                break
            }
            if PolicyRequestFields.contains(name: name) {
                fields.append(HTTP1Head.field(FieldNames.name(name), value))
            } else {
                // Up to the value's end: trailing blanks are not part of it (RFC 9112 §5).
                raw.put(UnsafeRawBufferPointer(rebasing: line[line.startIndex..<bounds.value.upperBound]))
                raw.put("\r\n")
            }
        }
        if framing.transferEncoding != nil {
            guard framing.contentLength == nil else { throw .malformed("both Content-Length and Transfer-Encoding") }
            guard version == .http1_1 else { throw .malformed("Transfer-Encoding in HTTP/1.0") }
        }
        var path = target
        if !path.hasPrefix("/") {
            guard let absolute = RequestTarget.split(path, method: method) else { throw .malformed("invalid request target") }
            path = absolute.path
            if let host = absolute.authority { authority = host }
        }
        // An HTTP/1.0 request may come without Host. One that names an empty host (`Host:`,
        // `http:///x`) is refused, as RFC 9110 §4.2.1 has it for an http URI (found by an
        // audit: it was forwarded with the target's name as its host).
        let implied = authority == nil && version == .http1_0
        if implied { authority = "" }
        guard let authority else { throw .malformed("missing Host") }
        guard implied || RequestAuthority.isValid(authority) else { throw .malformed("invalid Host") }
        let request = HTTPRequest(method: method, scheme: secure ? "https" : "http", authority: authority, path: path, headerFields: fields)
        let persistent = version == .http1_1 ? !close : keepAlive && !close
        if h2c { framing.upgrade = nil }
        return ClientRequestHead(
            request: request, version: version, keepAlive: persistent, framing: framing, connectionUpgrade: upgrade,
            cookieLines: cookieLines, firstCookieValue: firstCookieValue)
    }

    /// `method SP request-target SP HTTP-version`.
    private static func requestLine(
        _ line: UnsafeRawBufferPointer.SubSequence
    ) throws(HTTP1WireError) -> (HTTPRequest.Method, String, HTTPVersion) {
        var index = line.startIndex
        while index < line.endIndex && HTTP1Head.isTokenByte(line[index]) { index += 1 }
        guard index > line.startIndex, index < line.endIndex, line[index] == HTTP1Head.space else { throw .malformed("invalid method") }
        let methodEnd = index
        index += 1
        let targetStart = index
        // No fragment (`#`): RFC 9112 §3.2 has none in a request target, and a backend that cuts
        // the path there would serve another resource than the route matched.
        while index < line.endIndex && line[index] > HTTP1Head.space && line[index] != 0x7F && line[index] != 0x23 { index += 1 }
        guard index > targetStart, index < line.endIndex, line[index] == HTTP1Head.space else { throw .malformed("invalid request target") }
        guard let version = HTTP1Head.version(line[(index + 1)...]) else { throw .malformed("unsupported HTTP version") }
        let method = HTTPRequest.Method(String(decoding: UnsafeRawBufferPointer(rebasing: line[line.startIndex..<methodEnd]), as: UTF8.self))!
        // Bytes past ASCII are accepted only as UTF-8, forwarded as they came. ASCII (nearly
        // every target) needs no validation: the general initializer runs unspecialized.
        let targetBytes = UnsafeRawBufferPointer(rebasing: line[targetStart..<index])
        let target: String
        if targetBytes.allSatisfy({ $0 < 0x80 }) {
            target = String(decoding: targetBytes, as: UTF8.self)
        } else {
            guard let text = String(validating: targetBytes, as: UTF8.self) else { throw .malformed("request target is not UTF-8") }
            target = text
        }
        return (method, target, version)
    }
}

/// The CRLF-separated lines of a head whose final CRLF is already cut off.
struct LineIterator {
    private var rest: UnsafeRawBufferPointer.SubSequence

    init(_ bytes: UnsafeRawBufferPointer.SubSequence) { rest = bytes }

    mutating func next() -> UnsafeRawBufferPointer.SubSequence? {
        guard !rest.isEmpty else { return nil }
        // `HTTP1Head.end(of:scanned:)` checked that every LF has its CR.
        let base = rest.base.baseAddress!
        guard let found = memchr(base + rest.startIndex, Int32(HTTP1Head.lf), rest.count) else {
            defer { rest = rest[rest.endIndex...] }
            return rest
        }
        let newline = base.distance(to: UnsafeRawPointer(found))
        defer { rest = rest[(newline + 1)...] }
        return rest[rest.startIndex..<(newline - 1)]
    }
}

/// Request targets other than origin form (RFC 9112 §3.2).
enum RequestTarget {
    /// An absolute-form target (`http://host/path`) reduced to its path and authority, or `*`
    /// for `OPTIONS`; nil for anything else.
    static func split(_ target: String, method: HTTPRequest.Method) -> (path: String, authority: String?)? {
        let lowered = target.lowercased()
        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
            let rest = target.drop(while: { $0 != "/" }).dropFirst(2)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let tail = rest[slash...]
            return (tail.hasPrefix("/") ? String(tail) : "/" + tail, String(rest[..<slash]))
        }
        if method == .options && target == "*" { return ("*", nil) }
        return nil
    }
}
