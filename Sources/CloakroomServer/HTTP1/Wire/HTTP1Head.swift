import CloakroomProxy
import Glibc
import HTTPTypes
import NIOCore
import NIOHTTP1

/// A request or response that breaks HTTP/1.1 framing or syntax. `headersTooLarge` answers 431,
/// everything else 400 (or, from an upstream, 502).
struct HTTP1WireError: Error, CustomStringConvertible {
    enum Kind { case malformed, headersTooLarge }
    var kind: Kind
    var detail: String

    static func malformed(_ detail: String) -> Self { Self(kind: .malformed, detail: detail) }

    var description: String { detail }
}

/// The byte-level grammar both directions share (RFC 9112 §2–§5), parsed straight from the
/// read buffer into swift-http-types values: no intermediate header representation.
///
/// As strict as NIO's llhttp-based decoder was, and stricter where requests can be smuggled:
/// every line ends in CRLF (a bare LF or CR is an error, not a line break), no obsolete line
/// folding, no whitespace between a field name and its colon, field names are tokens, field
/// values carry no control characters (NUL, CR, LF, DEL).
enum HTTP1Head {
    static let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    /// Finds the end of the head that starts at offset 0: the index just past its empty line,
    /// or nil when more bytes are needed. `scanned` is where the previous call stopped (the
    /// start of the first incomplete line), so a head arriving in pieces is scanned once.
    static func end(of bytes: UnsafeRawBufferPointer, scanned: inout Int) throws(HTTP1WireError) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var lineStart = scanned
        while lineStart < bytes.count {
            guard let found = memchr(base + lineStart, Int32(lf), bytes.count - lineStart) else { break }
            let newline = base.distance(to: UnsafeRawPointer(found))
            guard newline > lineStart, bytes[newline - 1] == cr else { throw .malformed("bare LF") }
            if newline - 1 == lineStart { return newline + 1 }
            lineStart = newline + 1
        }
        scanned = lineStart
        return nil
    }

    /// One `name: value` line (without its CRLF), `line` a slice of the head.
    /// One field line, and the name's bytes within it.
    static func fieldAndName(
        _ line: UnsafeRawBufferPointer.SubSequence
    ) throws(HTTP1WireError) -> (field: HTTPField, name: UnsafeRawBufferPointer.SubSequence) {
        let bounds = try fieldBounds(line)
        let name = FieldNames.name(UnsafeRawBufferPointer(rebasing: line[line.startIndex..<bounds.colon]))
        let value = UnsafeRawBufferPointer(rebasing: line[bounds.value])
        return (field(name, value), line[line.startIndex..<bounds.colon])
    }

    /// A field from checked value bytes. ASCII (nearly every value) becomes a `String` directly,
    /// which swift-http-types keeps as is; other bytes take its general initializer, which keeps
    /// them exactly (a value need not be UTF-8).
    @inline(__always)
    static func field(_ name: HTTPField.Name, _ value: UnsafeRawBufferPointer) -> HTTPField {
        var ascii = true
        for byte in value where byte >= 0x80 {
            ascii = false
            break
        }
        guard ascii else { return HTTPField(name: name, value: value) }
        return HTTPField(name: name, value: String(decoding: value, as: UTF8.self))
    }

    /// Calls `body` with each line of `lines` (field lines as the parser checked them, each
    /// ending in CRLF): the field's name, and the whole line with its CRLF.
    @inline(__always)
    static func forEachLine(_ lines: UnsafeRawBufferPointer, _ body: (_ name: UnsafeRawBufferPointer, _ line: UnsafeRawBufferPointer) -> Void) {
        guard let base = lines.baseAddress else { return }
        var start = 0
        while start < lines.count {
            var colon = start
            while lines[colon] != Self.colon { colon += 1 }
            guard let found = memchr(base + colon, Int32(lf), lines.count - colon) else { return }
            let end = base.distance(to: UnsafeRawPointer(found)) + 1
            body(UnsafeRawBufferPointer(rebasing: lines[start..<colon]), UnsafeRawBufferPointer(rebasing: lines[start..<end]))
            start = end
        }
    }

    /// Appends the fields of raw `lines` that `filter` keeps to `fields`: the request as the
    /// backend gets it, for the echo upstream.
    static func appendFields(lines: ByteBuffer, filter: RequestFieldFilter, to fields: inout HTTPFields) {
        lines.withUnsafeReadableBytes { lines in
            forEachLine(lines) { name, line in
                guard !filter.dropsLine(name: name) else { return }
                // Without its CRLF; checked by the parser, so this cannot throw.
                if let parsed = try? fieldAndName(line[0..<(line.count - 2)]) { fields.append(parsed.field) }
            }
        }
    }

    /// Checked value bytes as text, for the fields the handler reads itself (`Host`, framing).
    @inline(__always)
    static func text(_ value: UnsafeRawBufferPointer) -> String {
        String(decoding: value, as: UTF8.self)
    }

    /// Checks one field line and finds its parts: the colon ending the name, and the value
    /// without surrounding blanks.
    static func fieldBounds(_ line: UnsafeRawBufferPointer.SubSequence) throws(HTTP1WireError) -> (colon: Int, value: Range<Int>) {
        let start = line.startIndex, end = line.endIndex
        // The base buffer indexed directly: a slice's subscript checks its bounds on every byte.
        let line = line.base
        guard start < end else { throw .malformed("empty field line") }
        if line[start] == space || line[start] == tab { throw .malformed("obsolete line folding") }
        var colon = start
        while colon < end && isTokenByte(line[colon]) { colon += 1 }
        guard colon < end, colon > start, line[colon] == Self.colon else { throw .malformed("invalid field name") }
        var valueStart = colon + 1, valueEnd = end
        while valueStart < valueEnd && (line[valueStart] == space || line[valueStart] == tab) { valueStart += 1 }
        while valueEnd > valueStart && (line[valueEnd - 1] == space || line[valueEnd - 1] == tab) { valueEnd -= 1 }
        for index in valueStart..<valueEnd {
            let byte = line[index]
            if byte < space && byte != tab || byte == 0x7F { throw .malformed("control character in a field value") }
        }
        return (colon, valueStart..<valueEnd)
    }

    /// `HTTP/1.1` or `HTTP/1.0`.
    static func version(_ bytes: UnsafeRawBufferPointer.SubSequence) -> HTTPVersion? {
        guard bytes.count == 8 else { return nil }
        let start = bytes.startIndex
        let prefix: [UInt8] = [0x48, 0x54, 0x54, 0x50, 0x2F, 0x31, 0x2E]  // "HTTP/1."
        for offset in 0..<7 where bytes[start + offset] != prefix[offset] { return nil }
        switch bytes[start + 7] {
        case UInt8(ascii: "1"): return .http1_1
        case UInt8(ascii: "0"): return .http1_0
        default: return nil
        }
    }

    /// The method at the start of `bytes`, a request line that may break the rules further on,
    /// so the access log records a refused request's method: nil unless a token and a space
    /// come first.
    static func leadingMethod(_ bytes: ByteBuffer) -> HTTPRequest.Method? {
        bytes.withUnsafeReadableBytes { raw -> HTTPRequest.Method? in
            var index = 0
            while index < raw.count && index <= 32 && isTokenByte(raw[index]) { index += 1 }
            guard index > 0, index < raw.count, raw[index] == space else { return nil }
            return HTTPRequest.Method(String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<index]), as: UTF8.self))
        }
    }

    /// RFC 9110 `tchar`: a bit per ASCII byte, in two words (a table would be a lazily
    /// initialized global, checked on every byte).
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0..<64: return (0x03ff_6cfa_0000_0000 as UInt64) >> byte & 1 == 1
        case 64..<128: return (0x57ff_ffff_c7ff_fffe as UInt64) >> (byte - 64) & 1 == 1
        default: return false
        }
    }

    /// Calls `body` with each element of a comma-separated list (`Connection`), blanks trimmed.
    static func forEachListElement<Bytes: RandomAccessCollection<UInt8>>(_ value: Bytes, _ body: (Bytes.SubSequence) -> Void) {
        var start = value.startIndex
        while true {
            let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
            var first = start, last = end
            while first < last && (value[first] == space || value[first] == tab) { first = value.index(after: first) }
            while last > first && (value[value.index(before: last)] == space || value[value.index(before: last)] == tab) {
                last = value.index(before: last)
            }
            if first < last { body(value[first..<last]) }
            guard end < value.endIndex else { return }
            start = value.index(after: end)
        }
    }
}
