import Foundation

/// Why a single value is not acceptable; the reader attaches the key path.
struct ValueProblem: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Syntax rules from the HTTP and cookie RFCs that configuration values must follow, so that
/// nothing the loader accepts can produce a malformed header at run time.
enum HTTPSyntax {
    /// RFC 9110 `token`: one or more `tchar`. RFC 6265 cookie names are the same set.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy(isTokenCharacter)
    }

    /// RFC 9110 `tchar`: `!#$%&'*+-.^_`|~`, digits and letters.
    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }

    /// A header-name pattern for `identity.strip`: token characters plus `*` wildcards.
    static func isHeaderPattern(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0 == "*" || isTokenCharacter($0) }
    }

    /// Checks an absolute URL path as used for routes, login, logout and the cookie: starts
    /// with `/`, visible ASCII only (percent-encode the rest), no query or fragment.
    static func checkPath(_ text: String) -> ValueProblem? {
        guard text.hasPrefix("/") else { return ValueProblem("must start with \"/\", got \(quoted(text))") }
        guard text.unicodeScalars.allSatisfy(isVisibleASCII) else {
            return ValueProblem("must be visible ASCII without spaces (percent-encode other characters)")
        }
        guard !text.contains("?"), !text.contains("#") else {
            return ValueProblem("must be a path without a query or fragment, got \(quoted(text))")
        }
        return nil
    }

    /// Checks a route's `path` against the form of the normalized request paths it is matched
    /// with (``RequestPath`` in CloakroomProxy: RFC 3986 §6.2.2 normalization): a path the
    /// normalization would change, or a request path it rejects, could never match, so its
    /// route's rules would silently fall to a later route. `problem` leads each message.
    static func checkNormalizedPath(
        _ text: String, problem: String = "can never match a request: request paths are normalized before routing"
    ) -> ValueProblem? {
        if text.contains("//") { return ValueProblem("\(problem) (// collapses to /), got \(quoted(text))") }
        if text.contains("\\") { return ValueProblem("\(problem) (a backslash is refused), got \(quoted(text))") }
        let dotSegment = { (segment: Substring) in segment == "." || segment == ".." || segment.hasPrefix(".;") || segment.hasPrefix("..;") }
        if text.split(separator: "/").contains(where: dotSegment) {
            return ValueProblem("\(problem) (dot-segments are resolved), got \(quoted(text))")
        }
        if text.contains(";") {
            return ValueProblem(
                "\(problem) (a segment's parameters after ; are not routed on: write %3B for a ; that is part of a name), got \(quoted(text))")
        }
        if let raw = text.unicodeScalars.first(where: { !isPathCharacter($0) && $0 != "/" && $0 != "%" }) {
            let escape = String(raw.value, radix: 16, uppercase: true)
            return ValueProblem("\(problem) (write %\(escape.count == 1 ? "0" : "")\(escape) instead of \(Character(raw))), got \(quoted(text))")
        }
        var bytes = text.utf8[...]
        while let percent = bytes.firstIndex(of: UInt8(ascii: "%")) {
            let escape = bytes[percent...].dropFirst().prefix(2)
            guard escape.count == 2, escape.allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                let value = UInt8(String(decoding: escape, as: UTF8.self), radix: 16)
            else {
                return ValueProblem("\(problem) (a broken %-escape), got \(quoted(text))")
            }
            let scalar = Unicode.Scalar(value)
            if scalar == "/" || scalar == "\\" {
                return ValueProblem("\(problem) (an encoded slash or backslash is refused), got \(quoted(text))")
            }
            if value == 0 { return ValueProblem("\(problem) (an encoded NUL is refused), got \(quoted(text))") }
            if isPathCharacter(scalar) {
                return ValueProblem("\(problem) (write \(Character(scalar)) instead of %\(String(decoding: escape, as: UTF8.self))), got \(quoted(text))")
            }
            if escape.contains(where: { (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) {
                return ValueProblem("\(problem) (%-escapes are upper-cased), got \(quoted(text))")
            }
            bytes = bytes[escape.endIndex...]
        }
        // Escapes above 0x7F must spell UTF-8: requests whose escapes do not (an overlong `.`,
        // `%FF`) are refused, and a lenient backend could decode them to anything.
        if text.contains("%"), String(validating: percentDecoded(text), as: UTF8.self) == nil {
            return ValueProblem("\(problem) (%-escapes that do not decode to UTF-8 are refused), got \(quoted(text))")
        }
        return nil
    }

    /// The bytes of `text` with its (well-formed) %-escapes decoded.
    private static func percentDecoded(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return bytes
    }

    /// The characters request paths hold raw once normalized (``RequestPath`` in
    /// CloakroomProxy, which decodes their escapes): RFC 3986 `pchar` without `%` and `;`.
    static func isPathCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-._~!$&'()*+,=:@".unicodeScalars.contains(scalar))
    }

    /// Checks a redirect target (`login.page`, `logout.redirect`): a path starting `/`, or an
    /// absolute `http` / `https` URL. `//host` is refused: browsers read it as another origin.
    static func checkRedirectTarget(_ text: String) -> ValueProblem? {
        let expectation = "expected a path starting \"/\" or an absolute http(s) URL, got \(quoted(text))"
        guard text.unicodeScalars.allSatisfy(isVisibleASCII) else { return ValueProblem(expectation) }
        if text.hasPrefix("//") {
            return ValueProblem("\(quoted(text)) is read by browsers as another host; write the full URL instead")
        }
        if text.hasPrefix("/") { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else { return ValueProblem(expectation) }
        return nil
    }

    static func isVisibleASCII(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0x21 && scalar.value <= 0x7E
    }

    /// A value shown back in a message: quoted, and cut short if long.
    static func quoted(_ text: String) -> String {
        let limit = 60
        let shown = text.count > limit ? text.prefix(limit) + "…" : Substring(text)
        return "\"\(escaped(shown))\""
    }

    /// `\` and `"` escaped, and every control character (C0, DEL, C1, the Unicode line and
    /// paragraph separators) written as an escape (`\r`, `\n`, `\t`, `\u{1b}`), so a value
    /// never breaks the one-line-per-problem output of `check` nor forges a line of its own.
    static func escaped(_ text: some StringProtocol) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\r": result += "\\r"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
                result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
