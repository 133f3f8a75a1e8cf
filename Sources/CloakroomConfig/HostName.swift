/// Host names as the configuration writes them: route hosts, `server_name`, `host_header`.
enum HostName {
    /// `routes[].host`: an exact name or `*.suffix`, lower-cased, one trailing dot dropped.
    static func routeHost(_ text: String) -> Result<RouteHost, ValueProblem> {
        var name = text.lowercased()
        if name.hasSuffix("."), name.count > 1 { name.removeLast() }
        if name.hasPrefix("[") {
            // In one spelling, as the request's host is compared (found by an audit:
            // `[0:0:0:0:0:0:0:1]` missed a route for `[::1]`).
            guard name.hasSuffix("]"), let canonical = IPAddress.bracketedHost(name.dropFirst().dropLast()) else {
                return .failure(ValueProblem("\(HTTPSyntax.quoted(text)) is not an IPv6 address in brackets like [::1]"))
            }
            return .success(.exact(canonical))
        }
        if IPAddress.bracketedHost(name) != nil {
            return .failure(ValueProblem("write an IPv6 address in brackets, like [::1], got \(HTTPSyntax.quoted(text))"))
        }
        if name.contains(":") {
            return .failure(
                ValueProblem("write the host without a port (routes match the request's host whatever its port), got \(HTTPSyntax.quoted(text))"))
        }
        if name.hasPrefix("*.") {
            let suffix = String(name.dropFirst(2))
            guard !suffix.contains("*"), isDNSName(suffix) else {
                return .failure(ValueProblem("expected a wildcard like *.example.com, got \(HTTPSyntax.quoted(text))"))
            }
            return .success(.wildcard(suffix: suffix))
        }
        if name.contains("*") {
            return .failure(
                ValueProblem("a wildcard is a whole first label, like *.example.com, got \(HTTPSyntax.quoted(text))"))
        }
        guard isDNSName(name) else {
            return .failure(ValueProblem("expected a host name like api.example.com, got \(HTTPSyntax.quoted(text))"))
        }
        return .success(.exact(name))
    }

    /// Letters, digits, `-` and `_` in dot-separated labels of 1–63 characters, 253 in all.
    /// IPv4 addresses are names by this rule, as they are in a `Host` field.
    static func isDNSName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.unicodeScalars.allSatisfy { scalar in
                    switch scalar {
                    case "a"..."z", "A"..."Z", "0"..."9", "-", "_": true
                    default: false
                    }
                }
        }
    }

    static func isIPAddress(_ text: String) -> Bool {
        isIPv4(text) || isIPv6(text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text)
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && Int(part).map { $0 <= 255 } == true
            }
    }

    static func isIPv6(_ text: String) -> Bool {
        text.contains(":")
            && text.unicodeScalars.allSatisfy { scalar in
                switch scalar {
                case "a"..."f", "A"..."F", "0"..."9", ":", ".": true
                default: false
                }
            }
    }

    /// A value for `Host`: a name, an IPv4 address or a bracketed IPv6 one, and an optional
    /// `:port` (RFC 9110 §7.2).
    static func isHostFieldValue(_ text: String) -> Bool {
        var host = Substring(text)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]"), isIPv6(String(host[host.index(after: host.startIndex)..<close])) else {
                return false
            }
            let rest = host[host.index(after: close)...]
            return rest.isEmpty || isPort(rest.dropFirst()) && rest.first == ":"
        }
        if let colon = host.lastIndex(of: ":") {
            guard isPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        return isDNSName(String(host))
    }

    private static func isPort(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 5 && text.allSatisfy(\.isASCIIDigit) && Int(text).map { (1...65535).contains($0) } == true
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
