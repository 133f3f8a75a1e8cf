extension Duration {
    /// Parses a configuration duration: one or more `<digits><unit>` parts with units `ms`, `s`,
    /// `m`, `h`, `d`, largest first, each unit at most once (`250ms`, `30s`, `15m`, `12h`, `7d`,
    /// `1h30m`).
    ///
    /// Returns `nil` for empty text, bare numbers (`30`), signs, fractions, spaces, unknown or
    /// repeated units, and values that overflow. `0s` parses; callers that need a positive
    /// duration check that themselves.
    public init?(configString: String) {
        guard let milliseconds = DurationSyntax.milliseconds(in: configString) else { return nil }
        self = .milliseconds(milliseconds)
    }

    /// A lifetime as the admin API and the CLI take it (an API key's `ttl`): a configuration
    /// duration, or whole years of 365 days (`1y`), the unit SPEC states the limit in.
    public init?(lifetime text: String) {
        if let duration = Duration(configString: text) {
            self = duration
            return
        }
        let digits = text.utf8.dropLast()
        guard text.utf8.last == UInt8(ascii: "y"), !digits.isEmpty, digits.count <= 4,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let years = Int(String(text.dropLast()))
        else { return nil }
        self = .seconds(years * 365 * 86_400)
    }

    /// The shortest exact configuration spelling (`90s` → `1m30s`), used in messages and tests.
    /// Falls back to Swift's own rendering below millisecond precision.
    var configDescription: String {
        let (seconds, attoseconds) = components
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        guard seconds >= 0, attoseconds >= 0, attoseconds % attosecondsPerMillisecond == 0 else {
            return description
        }
        var remaining = seconds.multipliedReportingOverflow(by: 1000)
        guard !remaining.overflow else { return description }
        remaining.partialValue += attoseconds / attosecondsPerMillisecond
        var milliseconds = remaining.partialValue
        if milliseconds == 0 { return "0s" }
        var text = ""
        for unit in DurationSyntax.units where milliseconds >= unit.milliseconds {
            text += "\(milliseconds / unit.milliseconds)\(unit.symbol)"
            milliseconds %= unit.milliseconds
        }
        return text
    }
}

enum DurationSyntax {
    /// Largest first: the order parts must appear in.
    static let units: [(symbol: String, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1),
    ]

    static func milliseconds(in text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var total: Int64 = 0
        var index = 0
        var nextAllowedUnit = 0
        while index < bytes.count {
            var number: Int64 = 0
            let digitsStart = index
            while index < bytes.count, let digit = asciiDigit(bytes[index]) {
                let (shifted, overflowA) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = shifted.addingReportingOverflow(digit)
                guard !overflowA, !overflowB else { return nil }
                number = sum
                index += 1
            }
            let unitStart = index
            while index < bytes.count, asciiDigit(bytes[index]) == nil { index += 1 }
            guard unitStart > digitsStart, index > unitStart else { return nil }
            let symbol = String(decoding: bytes[unitStart..<index], as: UTF8.self)
            guard let unitIndex = units.firstIndex(where: { $0.symbol == symbol }),
                unitIndex >= nextAllowedUnit
            else { return nil }
            nextAllowedUnit = unitIndex + 1
            let (part, overflowA) = number.multipliedReportingOverflow(by: units[unitIndex].milliseconds)
            let (sum, overflowB) = total.addingReportingOverflow(part)
            guard !overflowA, !overflowB else { return nil }
            total = sum
        }
        return total
    }

    private static func asciiDigit(_ byte: UInt8) -> Int64? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int64(byte - UInt8(ascii: "0")) : nil
    }
}
