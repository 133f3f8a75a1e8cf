import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// HTTP/1.1 heads and chunk framing written straight from swift-http-types values into one
/// buffer. Field names and values were validated on construction (swift-http-types refuses
/// CR, LF and NUL), so nothing here can split a message.
enum HTTP1Writer {
    /// The request as sent upstream: always HTTP/1.1, `Host` first, then the client's raw field
    /// `lines` except those `filter` drops, then the request's fields, cookie crumbs (HTTP/2
    /// allows several `cookie` fields) joined into the one `Cookie` line HTTP/1.1 allows, then
    /// the policy's `additions`, then the one framing field `framing` calls for (the client's
    /// own were dropped by `filter`).
    static func writeRequestHead(
        _ request: HTTPRequest, lines: ByteBuffer = ByteBuffer(), filter: RequestFieldFilter? = nil,
        additions: UpstreamAdditions? = nil, framing: UpstreamFraming, upgrade: String?, traceparent: String? = nil,
        into buffer: inout ByteBuffer
    ) {
        lines.withUnsafeReadableBytes { lines in
            // One pass into space estimated from the field count; a head that does not fit (long
            // values) is written again into space sized exactly.
            if write(request, lines: lines, filter: filter, additions: additions, framing: framing, upgrade: upgrade, traceparent: traceparent, into: &buffer, size: nil) {
                return
            }
            var size = 206 + request.method.rawValue.utf8.count + (request.path?.utf8.count ?? 1) + lines.count
            size += (request.authority?.utf8.count ?? 0) + (upgrade?.utf8.count ?? 0)
            for field in request.headerFields {
                size += field.name.rawName.utf8.count + valueCount(field) + 6  // ": ", CRLF, "; " if joined
            }
            if let additions {
                size += additions.identityLines.count
                size += 100 + additions.forwardedFor.utf8.count + (additions.forwardedHost?.utf8.count ?? 0) + additions.requestID.utf8.count
            }
            let written = write(
                request, lines: lines, filter: filter, additions: additions, framing: framing, upgrade: upgrade, traceparent: traceparent, into: &buffer, size: size)
            precondition(written, "request head larger than its computed size")
        }
    }

    /// Writes the request head into `size` bytes (an estimate when nil). False, with nothing
    /// written, when it does not fit.
    private static func write(
        _ request: HTTPRequest, lines: UnsafeRawBufferPointer, filter: RequestFieldFilter?, additions: UpstreamAdditions?,
        framing: UpstreamFraming, upgrade: String?, traceparent: String?, into buffer: inout ByteBuffer, size: Int?
    ) -> Bool {
        let fields = request.headerFields
        var fits = true
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size ?? (512 + lines.count + 64 * fields.count + (additions?.identityLines.count ?? 0))) { out in
            var head = HeadBytes(out)
            head.put(request.method.rawValue)
            head.put(byte: HTTP1Head.space)
            head.put(request.path ?? "/")
            head.put(" HTTP/1.1\r\n")
            if let authority = request.authority, !authority.isEmpty {
                head.put("Host: ")
                head.put(authority)
                head.put("\r\n")
            }
            HTTP1Head.forEachLine(lines) { name, line in
                if filter?.dropsLine(name: name) != true { head.put(line) }
            }
            var cookieWritten = false
            for field in fields {
                if field.name == .cookie {
                    guard !cookieWritten else { continue }
                    cookieWritten = true
                    var count = 0
                    for other in fields where other.name == .cookie { count += 1 }
                    if count > 1, let joined = fields[.cookie] {
                        head.put(HTTPField(name: .cookie, value: joined))
                        continue
                    }
                }
                head.put(field)
            }
            if let additions { head.put(additions) }
            if let traceparent {
                head.put("traceparent: ")
                head.put(traceparent)
                head.put("\r\n")
            }
            switch framing {
            case .none: break
            case .length(let length):
                head.put("Content-Length: ")
                head.put(String(length))  // a small string: inline, no allocation
                head.put("\r\n")
            case .chunked: head.put("Transfer-Encoding: chunked\r\n")
            }
            if let upgrade {
                head.put("Connection: upgrade\r\nUpgrade: ")
                head.put(upgrade)
                head.put("\r\n")
            }
            head.put("\r\n")
            fits = !head.overflowed
            return fits ? head.count : 0
        }
        return fits
    }

    /// A response head, with `extra` fields (connection management) after the response's own.
    /// The status line says HTTP/1.1 whatever the request's version (RFC 9110 §2.5: the
    /// highest version the server conforms to); `version` decides the framing around it.
    static func writeResponseHead(
        _ response: HTTPResponse, version: HTTPVersion, extra: StaticString?, chunked: Bool, into buffer: inout ByteBuffer
    ) {
        let reason = response.status.reasonPhrase
        var size = 96 + reason.utf8.count
        for field in response.headerFields { size += field.name.rawName.utf8.count + valueCount(field) + 4 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var head = HeadBytes(out)
            head.put("HTTP/1.1 ")  // to HTTP/1.0 clients too (RFC 9110 §2.5), as nginx answers
            let code = response.status.code
            head.put(byte: UInt8(truncatingIfNeeded: 0x30 + code / 100))
            head.put(byte: UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
            head.put(byte: UInt8(truncatingIfNeeded: 0x30 + code % 10))
            head.put(byte: HTTP1Head.space)
            head.put(reason)
            head.put("\r\n")
            for field in response.headerFields { head.put(field) }
            if chunked { head.put("transfer-encoding: chunked\r\n") }
            if let extra { head.put(extra) }
            head.put("\r\n")
            precondition(!head.overflowed, "response head larger than its computed size")
            return head.count
        }
    }

    /// An upstream's response head as forwarded when it needs nothing from the policy but the
    /// field rule: its status line (HTTP/1.1), its lines copied except those
    /// ``ResponseFieldRule`` removes, then `X-Request-Id`, then the proxy's own framing fields.
    static func writeResponseHead(
        _ head: UpstreamResponseHead, version: HTTPVersion, requestID: String, extra: StaticString?, chunked: Bool,
        into buffer: inout ByteBuffer
    ) {
        let size = head.bytes.readableBytes + requestID.utf8.count + 96
        _ = head.bytes.withUnsafeReadableBytes { bytes in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                var output = HeadBytes(out)
                output.put("HTTP/1.1 ")
                // The status line after its version ("HTTP/1.x "), then each field line, CRLF included.
                var lineStart = 9
                var first = true
                while lineStart < bytes.count {
                    var newline = lineStart
                    while bytes[newline] != HTTP1Head.lf { newline += 1 }
                    let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart...newline])
                    if first {
                        first = false
                        if line.count == 5 {
                            // "200\r\n": the reason phrase is optional, its space is not (RFC 9112 §4).
                            output.put(UnsafeRawBufferPointer(rebasing: line[0..<3]))
                            output.put(" \r\n")
                        } else {
                            output.put(line)
                        }
                    } else {
                        var colon = lineStart
                        while bytes[colon] != HTTP1Head.colon { colon += 1 }
                        if ResponseFieldRule.of(name: bytes[lineStart..<colon]) == .forward { output.put(line) }
                    }
                    lineStart = newline + 1
                }
                output.put("X-Request-Id: ")
                output.put(requestID)
                output.put("\r\n")
                if chunked { output.put("transfer-encoding: chunked\r\n") }
                if let extra { output.put(extra) }
                output.put("\r\n")
                precondition(!output.overflowed, "response head larger than its computed size")
                return output.count
            }
        }
    }

    /// The byte length of a field's value (no copy: its stored bytes are counted in place).
    @inline(__always)
    static func valueCount(_ field: HTTPField) -> Int {
        field.withUnsafeBytesOfValue { $0.count }
    }

    /// The size line of a chunk of `count` bytes (`count` > 0).
    static func writeChunkHeader(_ count: Int, into buffer: inout ByteBuffer) {
        let digits: StaticString = "0123456789abcdef"
        var shift = (Int.bitWidth - count.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            buffer.writeInteger(digits.utf8Start[(count >> shift) & 0xF])
            shift -= 4
        }
        buffer.writeStaticString("\r\n")
    }
}

/// A head written through one pointer into space reserved for it: the head's size is known
/// (or estimated) before it is written, so no write checks capacity or uniqueness. Every write
/// is bounds-checked: one that does not fit sets ``overflowed`` and nothing is written past
/// the space.
struct HeadBytes {
    private let out: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ out: UnsafeMutableRawBufferPointer) { self.out = out }

    /// A write did not fit: it and every later one were dropped.
    private(set) var overflowed = false

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        guard !overflowed, bytes.count <= out.count - count else {
            overflowed = true
            return
        }
        (out.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func put(_ text: StaticString) {
        put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func put(_ text: String) {
        var text = text
        text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func put(byte: UInt8) {
        guard !overflowed, count < out.count else {
            overflowed = true
            return
        }
        out[count] = byte
        count += 1
    }

    /// The policy's additions, one line each (``UpstreamAdditions/append(to:)``'s order).
    mutating func put(_ additions: UpstreamAdditions) {
        additions.identityLines.withUnsafeBytes { put($0) }
        put("X-Forwarded-For: ")
        put(additions.forwardedFor)
        put(additions.secure ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n")
        if let host = additions.forwardedHost {
            put("X-Forwarded-Host: ")
            put(host)
            put("\r\n")
        }
        put("X-Request-Id: ")
        put(additions.requestID)
        put("\r\n")
    }

    /// `name: value` CRLF.
    @inline(__always)
    mutating func put(_ field: HTTPField) {
        put(field.name.rawName)
        put(": ")
        field.withUnsafeBytesOfValue { put(UnsafeRawBufferPointer($0)) }
        put("\r\n")
    }
}
