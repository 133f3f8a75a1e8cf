extension JSONValue {
    /// Compact JSON text: no whitespace, object names sorted, so equal values always serialize
    /// to equal text.
    ///
    /// Integral numbers of magnitude below 2^63 print without a fraction (`3`, not `3.0`); other
    /// numbers use the shortest text that reads back as the same `Double` (`0.1`, `1e+300`).
    /// Non-finite numbers, which JSON cannot express and the parser never produces, print as
    /// `null`. Strings escape `"`, `\`, every control character and DEL; everything else,
    /// including non-ASCII, is written as UTF-8.
    public var jsonText: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The ``jsonText`` as UTF-8 bytes, which is how stores keep attributes compactly.
    var jsonUTF8: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value):
            out.append(contentsOf: Self.numberText(value).utf8)
        case .string(let value):
            Self.writeString(value, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, name) in object.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(name, to: &out)
                out.append(UInt8(ascii: ":"))
                object[name]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A number as JSON text (see ``jsonText``).
    static func numberText(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        // 2^63 is exactly representable; every integral double below it in magnitude fits Int64.
        if value == value.rounded(.towardZero), abs(value) < 9_223_372_036_854_775_808.0 {
            return String(Int64(value))
        }
        // Swift prints the shortest round-tripping digits; its forms ("1e-07", "1e+300",
        // "0.1") are all valid JSON numbers.
        return value.description
    }

    private static func writeString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20, 0x7F:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

extension JSONValue: CustomStringConvertible {
    /// The ``jsonText``.
    public var description: String { jsonText }
}
