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
        let escaped = shown.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }
}
