import HTTPTypes

/// CSRF defence for the identity the proxy derives from a cookie. Applied to unsafe methods
/// (anything but GET, HEAD, OPTIONS, TRACE) that carry the session cookie, and to the built-in
/// login's POST.
///
/// A request is cross-site when its `Origin` is not in `session.trusted_origins` and either
/// `Sec-Fetch-Site: cross-site` (modern browsers), or, lacking that header, `Origin` is present
/// and differs from the request's own origin (`scheme://Host`). Two `Sec-Fetch-Site` values
/// count as cross-site. `Origin: null` (sandboxed
/// frames, some redirects) counts as foreign. Requests with neither header (non-browser
/// clients) pass: browsers always send one of them on cross-origin unsafe requests.
struct CSRFCheck: Sendable {
    let trustedOrigins: Set<String>

    init(trustedOrigins: [String]) {
        self.trustedOrigins = Set(trustedOrigins.map { $0.lowercased() })
    }

    /// `secure`: whether the client spoke HTTPS (to this listener or to a trusted proxy in
    /// front), which makes the request's own origin `https://Host`.
    func isCrossSite(_ request: HTTPRequest, secure: Bool) -> Bool {
        let origin = PolicyRequestFields.value(.origin, in: request)?.lowercased()
        if let origin, trustedOrigins.contains(origin) { return false }
        if let site = PolicyRequestFields.value(.secFetchSite, in: request)?.lowercased() {
            // One value, as browsers send it; two (joined with a comma) are no browser's and
            // count as cross-site (found by an audit: a second `same-origin` hid the first).
            return site == "cross-site" || site.contains(",")
        }
        guard let origin else { return false }
        let scheme = secure ? "https" : "http"
        let own = "\(scheme)://\(Self.withoutDefaultPort(request.authority ?? "", scheme: scheme))".lowercased()
        return origin != own
    }

    /// `host:80` for http and `host:443` for https are `host` (RFC 6454 §4: an origin's default
    /// port is left out of its serialization, as browsers send `Origin`).
    static func withoutDefaultPort(_ authority: String, scheme: String) -> Substring {
        let suffix = scheme == "https" ? ":443" : ":80"
        return authority.hasSuffix(suffix) ? authority.dropLast(suffix.count) : authority[...]
    }
}
