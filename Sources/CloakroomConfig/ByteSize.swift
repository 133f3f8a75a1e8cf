/// Sizes written in the configuration: a whole number of bytes with an optional unit.
///
/// Binary units are powers of 1024 (`KiB`, `MiB`, `GiB`, `TiB`); decimal units are powers of
/// 1000 (`KB`, `MB`, `GB`, `TB`); `B` or no unit means bytes. Units are matched
/// case-insensitively and may follow one space (`10 MiB`).
public enum ByteSize {
    /// The size in bytes, or `nil` for anything else: empty text, signs, fractions, unknown
    /// units, or a value that does not fit in `Int`. `0` parses; callers check their minimum.
    public static func parse(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        var unit = text.dropFirst(digits.count)
        if unit.first == " " {
            unit = unit.dropFirst()
            guard !unit.isEmpty else { return nil }
        }
        guard let multiplier = multipliers[unit.lowercased()] else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// Renders bytes with the largest binary unit that divides them exactly (`32768` → `32KiB`).
    static func describe(_ bytes: Int) -> String {
        for (symbol, multiplier) in [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes != 0 && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(symbol)"
        }
        return "\(bytes)"
    }

    private static let multipliers: [String: Int] = [
        "": 1, "b": 1,
        "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
        "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000,
    ]
}
