/// `routes[].cors`: which other origins' browser code may call a route (SPEC "CORS").
public struct CORSSettings: Sendable, Equatable {
    /// Lower-cased `scheme://host[:port]`, or the single entry `*` (any origin, only without
    /// `allowCredentials`: checked by the loader). Never empty.
    public var origins: [String]
    /// Methods a preflight may ask for, upper-cased as written (`GET`, `POST`).
    public var methods: [String] = ["GET", "HEAD", "POST"]
    /// Request fields a preflight may ask for (any case), beyond none.
    public var headers: [String] = []
    /// `Access-Control-Allow-Credentials: true`: the browser sends cookies, and these origins
    /// count as trusted origins for the CSRF rule on this route.
    public var allowCredentials: Bool = false
    /// `Access-Control-Max-Age`: how long a browser may cache a preflight's answer.
    public var maxAge: Duration = .seconds(600)

    public init(
        origins: [String], methods: [String] = ["GET", "HEAD", "POST"], headers: [String] = [], allowCredentials: Bool = false,
        maxAge: Duration = .seconds(600)
    ) {
        self.origins = origins
        self.methods = methods
        self.headers = headers
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }

    /// Whether `*` stands for every origin.
    public var anyOrigin: Bool { origins == ["*"] }
}

extension ConfigurationDecoder {
    /// `{ origins, methods, headers, allow_credentials, max_age }`; `origins` required.
    func cors(_ value: YAMLValue) -> CORSSettings? {
        let keys = ["origins", "methods", "headers", "allow_credentials", "max_age"]
        guard let map = reader.mapping(value, knownKeys: keys) else { return nil }
        let origins = map.required("origins", corsOrigins)
        var cors = CORSSettings(origins: origins ?? [])
        if let methods = map.optional("methods", { tokens($0, what: "method", upperCased: true) }) { cors.methods = methods }
        if let headers = map.optional("headers", { tokens($0, what: "header name", upperCased: false) }) { cors.headers = headers }
        if let credentials = map.optional("allow_credentials", reader.bool) { cors.allowCredentials = credentials }
        if let maxAge = map.optional("max_age", reader.duration) { cors.maxAge = maxAge }
        if cors.allowCredentials, cors.anyOrigin, let originsValue = map["origins"] {
            reader.report(
                "\"*\" is allowed only without allow_credentials (browsers refuse credentials with a wildcard); list the origins",
                at: originsValue.path)
        }
        return origins == nil ? nil : cors
    }

    /// A non-empty list of origins (`https://app.example.com`, no path, no wildcard), or `["*"]`
    /// alone.
    private func corsOrigins(_ value: YAMLValue) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        guard !items.isEmpty else {
            reader.report("must list at least one origin (or leave cors out)", at: value.path)
            return nil
        }
        let origins = items.compactMap { item -> String? in
            guard let text = reader.string(item) else { return nil }
            if text == "*" {
                guard items.count == 1 else {
                    reader.report("\"*\" stands for every origin: list it alone", at: item.path)
                    return nil
                }
                return text
            }
            return origin(text, at: item)
        }
        return origins.count == items.count ? origins : nil
    }

    /// One entry of `routes[].cors.origins` or `session.trusted_origins`, as browsers send
    /// `Origin` (``HTTPSyntax/origin(_:)``), or `nil` with the problem reported at `item`.
    ///
    /// A `*` inside an origin (`https://*.example.com`) is refused: origins compare whole, so
    /// the entry would pass `check` and never match (found by a black-box audit).
    func origin(_ text: String, at item: YAMLValue) -> String? {
        if text.contains("*") {
            reader.report(
                "wildcards inside an origin are not supported (\(HTTPSyntax.quoted(text)) would match no origin): "
                    + "list each origin, like https://app.example.com",
                at: item.path)
            return nil
        }
        guard let origin = HTTPSyntax.origin(text) else {
            reader.report("expected an origin like https://app.example.com (no path), got \(HTTPSyntax.quoted(text))", at: item.path)
            return nil
        }
        return origin
    }

    /// A list of HTTP tokens (methods, field names).
    private func tokens(_ value: YAMLValue, what: String, upperCased: Bool) -> [String]? {
        guard let items = reader.sequence(value) else { return nil }
        let tokens = items.compactMap { item -> String? in
            guard let text = reader.string(item) else { return nil }
            // `*` is a token, and browsers read it as "any" in the answer, while a preflight is
            // checked against the list: it would admit only a literal `*` (found by an audit).
            guard text != "*" else {
                reader.report("\"*\" is not a wildcard here: list each \(what) a preflight may ask for", at: item.path)
                return nil
            }
            guard HTTPSyntax.isToken(text) else {
                reader.report("expected a \(what), got \(HTTPSyntax.quoted(text))", at: item.path)
                return nil
            }
            return upperCased ? text.uppercased() : text
        }
        return tokens.count == items.count ? tokens : nil
    }
}

extension HTTPSyntax {
    /// `scheme://host[:port]`, http or https, no path, query or user info, as browsers send
    /// `Origin`: lower-cased, and without the scheme's default port (`https://a.test:443` is
    /// `https://a.test`; kept, it would pass `check` and never match). `nil` for anything else
    /// (the rule `session.trusted_origins` and `routes[].cors.origins` share).
    static func origin(_ text: String) -> String? {
        let lowered = text.lowercased()
        let scheme = lowered.hasPrefix("https://") ? "https://" : lowered.hasPrefix("http://") ? "http://" : nil
        guard let scheme, lowered.count > scheme.count, !lowered.dropFirst(scheme.count).contains(where: { "/?#@ ".contains($0) }) else {
            return nil
        }
        // The port follows the last colon after any `[IPv6]` literal.
        let authority = lowered.dropFirst(scheme.count)
        let afterHost = authority.lastIndex(of: "]").map { authority[$0...] } ?? authority
        guard let colon = afterHost.lastIndex(of: ":") else { return lowered }
        let digits = authority[authority.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }), Int(digits) == (scheme == "https://" ? 443 : 80) else {
            return lowered
        }
        return String(lowered[..<colon])
    }
}
