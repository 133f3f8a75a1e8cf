import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line: `time`, `level`, `msg`, then the
/// metadata (integers stay numbers). Used for the access log, on standard output.
///
/// Lines are buffered whole (``LineOutput``) and written to file descriptor 1 in `write` calls
/// that hold only whole lines, when 64 KiB are pending and when the server calls ``flush()``
/// (every second and at shutdown): a line reaches stdout within a second without a system call
/// per request, and never shares a `write` with part of another, so standard output and
/// standard error sent to one file (`2>&1`) keep every line whole. (The C library's buffered
/// `stdout` wrote at 4 KiB boundaries, mid-line.) The writes happen on a thread of their own: a
/// standard output nobody reads never holds up a request; past 16 MiB waiting, lines are
/// dropped, and a warning line says how many once it is read again.
public struct JSONLinesLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    private static let output = LineOutput(fileDescriptor: STDOUT_FILENO) { dropped in
        var line: [UInt8] = Array(#"{"time":""#.utf8)
        appendTimestamp(to: &line)
        line += Array(#"","level":"warning","msg":"log lines dropped: standard output was not read","dropped":\#(dropped)}"#.utf8)
        return line + [UInt8(ascii: "\n")]
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Built as bytes: the access log writes a line per request and the audit log two per
        // login, so a `String` appended scalar by scalar was a fifth of a login's CPU.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"time":""#.utf8)
        Self.appendTimestamp(to: &line)
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(contentsOf: #"","msg":"#.utf8)
        Self.appendString(event.message.description, to: &line)
        let merged: Logger.Metadata
        if let eventMetadata = event.metadata {
            merged = metadata.isEmpty ? eventMetadata : metadata.merging(eventMetadata) { $1 }
        } else {
            merged = metadata
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: ","))
            Self.appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.append(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        Self.output.append(line)
    }

    /// A line with string fields, in the order given (by key, as ``log(event:)`` orders them),
    /// for a writer that knows its fields without a `Logger.Metadata` dictionary.
    static func writeLine(level: Logger.Level, message: String, fields: [(String, String)]) {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"time":""#.utf8)
        appendTimestamp(to: &line)
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: #"","msg":"#.utf8)
        appendString(message, to: &line)
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            appendString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            appendString(value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        output.append(line)
    }

    /// Starts writing out every pending line; returns at once.
    public static func flush() { output.flush() }

    /// Writes out every pending line, waiting at most `timeout` (at shutdown: a reader that
    /// stopped reading must not keep the process alive).
    public static func flush(waitingAtMost timeout: Duration) { output.flush(waitingAtMost: timeout) }

    private static func append(_ value: Logger.MetadataValue, to line: inout [UInt8]) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible):
            if convertible is Int || convertible is Int64 || convertible is Double {
                line.append(contentsOf: convertible.description.utf8)
            } else {
                appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                append(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            line.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                append(dictionary[key]!, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`
    /// (C0, DEL and the C1 controls U+0080–U+009F), the line and paragraph separators as
    /// `\u2028` and `\u2029`; everything else (UTF-8 included) copied as it is. JSON allows the
    /// last ones raw, but NEL (U+0085) and the separators end lines for many readers (Python's
    /// `splitlines`, JavaScript before ES2019): raw, a sub holding them split one line in three
    /// (found by an audit).
    static func appendString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                let length: Int  // bytes replaced by an escape; 0 for none
                switch byte {
                case 0..<0x20, UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x7F: length = 1
                case 0xC2 where index + 1 < bytes.count && (0x80...0x9F).contains(bytes[index + 1]): length = 2
                case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                    length = 3
                default: length = 0
                }
                guard length > 0 else {
                    index += 1
                    continue
                }
                line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                switch (byte, length) {
                case (UInt8(ascii: "\""), _): line.append(contentsOf: #"\""#.utf8)
                case (UInt8(ascii: "\\"), _): line.append(contentsOf: #"\\"#.utf8)
                case (UInt8(ascii: "\n"), _): line.append(contentsOf: #"\n"#.utf8)
                case (UInt8(ascii: "\r"), _): line.append(contentsOf: #"\r"#.utf8)
                case (UInt8(ascii: "\t"), _): line.append(contentsOf: #"\t"#.utf8)
                case (_, 3): line.append(contentsOf: (bytes[index + 2] == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8)
                default:
                    let value = length == 2 ? bytes[index + 1] : byte
                    line.append(contentsOf: #"\u00"#.utf8)
                    line.append(hexDigits[Int(value >> 4)])
                    line.append(hexDigits[Int(value & 0xF)])
                }
                index += length
                start = index
            }
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        line.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// RFC 3339 UTC with milliseconds, without Foundation's formatter (cheap per line).
    static func timestamp() -> String {
        var bytes: [UInt8] = []
        appendTimestamp(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func appendTimestamp(to line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        line.append(UInt8(ascii: "."))
        digits(now.tv_nsec / 1_000_000, 3)
        line.append(UInt8(ascii: "Z"))
    }
}
