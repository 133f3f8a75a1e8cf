import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// HTTP/1.1 heads and chunk framing written straight from swift-http-types values into one
/// buffer. Field names and values were validated on construction (swift-http-types refuses
/// CR, LF and NUL), so nothing here can split a message.
enum HTTP1Writer {
    /// The request as sent upstream: always HTTP/1.1, `Host` first, cookie crumbs (HTTP/2
    /// allows several `cookie` fields) joined into the one `Cookie` line HTTP/1.1 allows.
    static func writeRequestHead(_ request: HTTPRequest, chunked: Bool, upgrade: String?, into buffer: inout ByteBuffer) {
        buffer.writeString(request.method.rawValue)
        buffer.writeInteger(HTTP1Head.space)
        buffer.writeString(request.path ?? "/")
        buffer.writeStaticString(" HTTP/1.1\r\n")
        if let authority = request.authority, !authority.isEmpty {
            buffer.writeStaticString("Host: ")
            buffer.writeString(authority)
            buffer.writeStaticString("\r\n")
        }
        var cookieWritten = false
        for field in request.headerFields {
            if field.name == .cookie {
                guard !cookieWritten else { continue }
                cookieWritten = true
                var count = 0
                for other in request.headerFields where other.name == .cookie { count += 1 }
                if count > 1, let joined = request.headerFields[.cookie] {
                    write(HTTPField(name: .cookie, value: joined), into: &buffer)
                    continue
                }
            }
            write(field, into: &buffer)
        }
        if chunked { buffer.writeStaticString("Transfer-Encoding: chunked\r\n") }
        if let upgrade {
            buffer.writeStaticString("Connection: upgrade\r\nUpgrade: ")
            buffer.writeString(upgrade)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// A response head in `version`, with `extra` fields (connection management) after the
    /// response's own.
    static func writeResponseHead(
        _ response: HTTPResponse, version: HTTPVersion, extra: StaticString?, chunked: Bool, into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        writeStatus(response.status, into: &buffer)
        for field in response.headerFields { write(field, into: &buffer) }
        if chunked { buffer.writeStaticString("transfer-encoding: chunked\r\n") }
        if let extra { buffer.writeStaticString(extra) }
        buffer.writeStaticString("\r\n")
    }

    /// An upstream's response head as forwarded when it needs nothing from the policy but the
    /// field rule: its status line in `version`, its lines copied except those
    /// ``ResponseFieldRule`` removes, then `X-Request-Id`, then the proxy's own framing fields.
    static func writeResponseHead(
        _ head: UpstreamResponseHead, version: HTTPVersion, requestID: String, extra: StaticString?, chunked: Bool,
        into buffer: inout ByteBuffer
    ) {
        buffer.reserveCapacity(minimumWritableBytes: head.bytes.readableBytes + requestID.utf8.count + 80)
        buffer.writeStaticString(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        head.bytes.withUnsafeReadableBytes { bytes in
            // The status line after its version ("HTTP/1.x "), then each field line, CRLF included.
            var lineStart = 9
            var first = true
            while lineStart < bytes.count {
                var newline = lineStart
                while bytes[newline] != HTTP1Head.lf { newline += 1 }
                let line = bytes[lineStart...newline]
                if first {
                    first = false
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: line))
                } else {
                    var colon = lineStart
                    while bytes[colon] != HTTP1Head.colon { colon += 1 }
                    if ResponseFieldRule.of(name: bytes[lineStart..<colon]) == .forward {
                        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: line))
                    }
                }
                lineStart = newline + 1
            }
        }
        buffer.writeStaticString("X-Request-Id: ")
        buffer.writeString(requestID)
        buffer.writeStaticString("\r\n")
        if chunked { buffer.writeStaticString("transfer-encoding: chunked\r\n") }
        if let extra { buffer.writeStaticString(extra) }
        buffer.writeStaticString("\r\n")
    }

    /// `code SP reason CRLF`: three digits, written without formatting.
    static func writeStatus(_ status: HTTPResponse.Status, into buffer: inout ByteBuffer) {
        let code = status.code
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 100))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code % 10))
        buffer.writeInteger(HTTP1Head.space)
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
    }

    @inline(__always)
    static func write(_ field: HTTPField, into buffer: inout ByteBuffer) {
        buffer.writeString(field.name.rawName)
        buffer.writeStaticString(": ")
        field.withUnsafeBytesOfValue { _ = buffer.writeBytes($0) }
        buffer.writeStaticString("\r\n")
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
