/// Why a text is not acceptable JSON, and where (a byte offset into its UTF-8).
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public init(_ reason: String, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Nesting deeper than this is rejected, so hostile input cannot exhaust the stack.
    public static let maximumParsingDepth = 256

    /// Parses one JSON text (RFC 8259, strictly).
    ///
    /// Accepted: any value at top level, surrounded by optional JSON whitespace. Rejected, with a
    /// ``JSONParseError``: trailing content, comments, trailing commas, single quotes, leading
    /// zeros, `NaN`/`Infinity`, numbers too large for a `Double`, raw control characters in
    /// strings, unpaired UTF-16 surrogate escapes, nesting deeper than ``maximumParsingDepth``,
    /// and duplicate names in one object (RFC 8259 leaves their meaning open; for identity data
    /// a second `sub` must not silently win).
    public init(parsing text: String) throws {
        var text = text
        self = try text.withUTF8 { try JSONValue(parsingUTF8: $0) }
    }

    /// Parses a JSON text that must be an object at top level, as session attributes and
    /// `Session-Login` headers are.
    public static func parseObject(_ text: String) throws -> JSONObject {
        guard case .object(let object) = try JSONValue(parsing: text) else {
            throw JSONParseError("expected an object at top level", at: 0)
        }
        return object
    }

    /// Parses JSON that arrived as bytes (a header value, a request body, a token's payload);
    /// same rules as ``init(parsing:)``. They must be UTF-8 (RFC 8259 §8.1): a byte that is not
    /// is an error, never read as U+FFFD, which would make two different names one (found by
    /// an audit: a backend's Latin-1 `Müller` and `Måller` became the same user).
    public init(parsingUTF8 bytes: some Collection<UInt8>) throws {
        self = try Array(bytes).withUnsafeBufferPointer { try JSONValue(parsingUTF8: $0) }
    }

    /// ``init(parsingUTF8:)`` for a JSON object at top level.
    public static func parseObject(utf8 bytes: some Collection<UInt8>) throws -> JSONObject {
        guard case .object(let object) = try JSONValue(parsingUTF8: bytes) else {
            throw JSONParseError("expected an object at top level", at: 0)
        }
        return object
    }

    /// Parses UTF-8 bytes; same rules as ``init(parsing:)``. Bytes that are not valid UTF-8
    /// inside strings are rejected.
    init(parsingUTF8 bytes: UnsafeBufferPointer<UInt8>) throws {
        var parser = JSONParser(bytes: bytes)
        self = try parser.parseDocument()
    }
}

/// A recursive-descent parser over UTF-8 bytes. One per document.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected content after the value") }
        return value
    }

    private func error(_ reason: String) -> JSONParseError {
        JSONParseError(reason, at: position)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            position += 1
        }
    }

    private mutating func expect(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error("invalid literal") }
        let literalBytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for i in 0..<count where bytes[position + i] != literalBytes[i] {
            throw error("invalid literal")
        }
        position += count
    }

    private mutating func parseValue() throws -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return .object(try nested { try $0.parseObject() })
        case UInt8(ascii: "["): return .array(try nested { try $0.parseArray() })
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    private mutating func nested<T>(_ body: (inout JSONParser) throws -> T) throws -> T {
        guard depth < JSONValue.maximumParsingDepth else { throw error("nesting too deep") }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func parseObject() throws -> JSONObject {
        position += 1  // "{"
        var object = JSONObject()
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return object
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string name") }
            let nameOffset = position
            let name = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            guard object.updateValue(value, forKey: name) == nil else {
                throw JSONParseError("duplicate name \"\(name)\"", at: nameOffset)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return object
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws -> [JSONValue] {
        position += 1  // "["
        var array: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return array
        }
        while true {
            skipWhitespace()
            array.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return array
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws -> Double {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        switch current ?? 0 {
        case UInt8(ascii: "0"):
            position += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            skipDigits()
        default:
            throw error("expected a digit")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard isDigit(current) else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard isDigit(current) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        // The grammar above is JSON's; Swift's parser accepts a superset of it, so it only
        // converts here. The text is ASCII by construction.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError("number out of range", at: start)
        }
        return value
    }

    private func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while isDigit(current) { position += 1 }
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes, so the content is a slice of the input.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw error("control character in string") }
            position += 1
        }
        guard let stop = current else { throw error("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            let content = UnsafeBufferPointer(rebasing: bytes[start..<position])
            position += 1
            return try makeString(content, at: start)
        }
        var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return try scratch.withUnsafeBufferPointer { try makeString($0, at: start) }
            case UInt8(ascii: "\\"):
                position += 1
                try parseEscape(into: &scratch)
            case 0..<0x20:
                throw error("control character in string")
            default:
                scratch.append(byte)
                position += 1
            }
        }
    }

    private func makeString(_ utf8: UnsafeBufferPointer<UInt8>, at offset: Int) throws -> String {
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw JSONParseError("invalid UTF-8 in string", at: offset)
        }
        return string
    }

    private mutating func parseEscape(into scratch: inout [UInt8]) throws {
        guard let byte = current else { throw error("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): scratch.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): scratch.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let scalar = try parseUnicodeEscape()
            scratch.append(contentsOf: UTF8.encode(scalar)!)
        default:
            position -= 1
            throw error("invalid escape")
        }
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uXXXX` low surrogate that
    /// must follow it.
    private mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        let first = try parseHex4()
        switch first {
        case 0xD800...0xDBFF:
            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                  bytes[position + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate escape")
            }
            position += 2
            let second = try parseHex4()
            guard (0xDC00...0xDFFF).contains(second) else { throw error("unpaired surrogate escape") }
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            return Unicode.Scalar(value)!
        case 0xDC00...0xDFFF:
            throw error("unpaired surrogate escape")
        default:
            return Unicode.Scalar(first)!
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A")) + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
