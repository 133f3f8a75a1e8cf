extension SocketAddressSpec {
    /// Parses `host:port` or `[ipv6]:port`. With `defaultPort`, the `:port` part may be left
    /// out. `minimumPort` is 0 for listeners (0 asks the OS for a free port) and 1 for targets.
    static func parse(_ text: String, defaultPort: Int? = nil, minimumPort: Int = 0) -> Result<Self, ValueProblem> {
        let expectation = ValueProblem(
            "expected host:port like 127.0.0.1:8080 or [::1]:8080, got \(HTTPSyntax.quoted(text))")
        let host: Substring
        let portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(expectation) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                portText = nil
            } else if rest.first == ":" {
                portText = rest.dropFirst()
            } else {
                return .failure(expectation)
            }
            guard host.contains(":"), host.unicodeScalars.allSatisfy(isIPv6Character), IPAddress(host) != nil else {
                return .failure(ValueProblem("\(HTTPSyntax.quoted(String(host))) is not an IPv6 address"))
            }
        } else {
            if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                host = Substring(text)
                portText = nil
            }
            if host.contains(":") {
                return .failure(ValueProblem("write IPv6 addresses in brackets, like [::1]:8080"))
            }
            guard !host.isEmpty, host.unicodeScalars.allSatisfy(isHostNameCharacter) else {
                return .failure(expectation)
            }
        }
        guard let port = portText.map(String.init) ?? defaultPort.map(String.init) else {
            return .failure(expectation)
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port)
        else {
            return .failure(expectation)
        }
        guard (minimumPort...65535).contains(number) else {
            return .failure(ValueProblem("port must be \(minimumPort)–65535, got \(number)"))
        }
        // Digits and dots only is no host name (a top-level domain is never numeric): it is an
        // IPv4 address, and `256.0.0.1` or `1.2.3` must not reach the resolver.
        if host.allSatisfy({ $0 == "." || $0.isASCII && $0.isNumber }), IPAddress(host)?.isIPv4 != true {
            return .failure(ValueProblem("\(HTTPSyntax.quoted(String(host))) is not an IPv4 address (four numbers 0–255)"))
        }
        return .success(SocketAddressSpec(host: String(host), port: number))
    }

    private static func isHostNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_": true
        default: false
        }
    }

    private static func isIPv6Character(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."f", "A"..."F", "0"..."9", ":", ".": true
        default: false
        }
    }
}

extension UpstreamTarget {
    /// Parses `http://host[:port][/]` or `https://host[:port][/]`; the port defaults to 80 and
    /// 443. Paths, queries, fragments and user info are refused.
    static func parse(_ text: String) -> Result<Self, ValueProblem> {
        let lowered = text.lowercased()
        let scheme: Scheme
        if lowered.hasPrefix("https://") {
            scheme = .https
        } else if lowered.hasPrefix("http://") {
            scheme = .http
        } else {
            return .failure(
                ValueProblem("expected a URL like http://127.0.0.1:9000 or https://api.example.com, got \(HTTPSyntax.quoted(text))"))
        }
        let rest = text.dropFirst(scheme.rawValue.count + 3)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let remainder = rest[authorityEnd...]
        guard remainder.isEmpty || remainder == "/" else {
            return .failure(
                ValueProblem(
                    "a target is scheme, host and port only; \(HTTPSyntax.quoted(String(remainder))) is not allowed"))
        }
        guard !authority.contains("@") else {
            return .failure(ValueProblem("a target cannot carry user info"))
        }
        return SocketAddressSpec.parse(String(authority), defaultPort: scheme == .https ? 443 : 80, minimumPort: 1)
            .map { UpstreamTarget(host: $0.host, port: $0.port, scheme: scheme) }
    }

    /// The port `scheme://host` means without one.
    public var defaultPort: Int { scheme == .https ? 443 : 80 }

    /// `Host` for `host_header: target`: `host:port`, IPv6 in brackets, the port left out when it
    /// is the scheme's default (as browsers and curl write it).
    public var hostHeaderValue: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return port == defaultPort ? host : "\(host):\(port)"
    }
}
