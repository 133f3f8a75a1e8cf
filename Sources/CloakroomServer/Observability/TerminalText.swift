/// Text from outside (a sub, a User-Agent, a provider's error code, a key's name) made safe
/// for a line that a terminal or a log reader shows: every character a terminal would act on
/// instead of show is written out as JSON writes it in a string (`\n`, `\u001b`). That is C0
/// and C1 controls and DEL (a newline forges a log line or a table row, ESC or U+009B starts a
/// terminal command), format characters such as the bidi overrides and isolates (text that
/// reads in another order than it is) and the line and paragraph separators.
public enum TerminalText {
    /// `text` with those characters escaped. With `backslashes`, a backslash is written `\\`,
    /// as JSON does: otherwise a value holding the text `\u001b` reads exactly like one holding
    /// ESC. Text with nothing to escape is returned as it is, without a copy.
    public static func safe(_ text: String, backslashes: Bool = false) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool { isControl(scalar) || (backslashes && scalar == "\\") }
        guard text.unicodeScalars.contains(where: escaped) else { return text }
        var shown = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard escaped(scalar) else {
                shown.append(scalar)
                continue
            }
            let escape: String
            switch scalar {
            case "\\": escape = "\\\\"
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            case "\u{8}": escape = "\\b"
            case "\u{c}": escape = "\\f"
            default:
                escape = String(scalar).utf16.map { unit in
                    let hex = String(unit, radix: 16)
                    return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }.joined()
            }
            shown.append(contentsOf: escape.unicodeScalars)
        }
        return String(shown)
    }

    /// Whether a terminal acts on `scalar` instead of showing it.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
