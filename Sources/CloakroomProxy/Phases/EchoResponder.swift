import CloakroomLogin
import CloakroomSessions
import HTTPTypes

/// The `builtin: echo` upstream: answers with the request exactly as a backend would have
/// received it (after stripping and identity injection). It is how a user sees what their
/// backend will get.
///
/// API clients get JSON (`method`, `path`, `headers`). A browser (``BrowserAccept``) gets the
/// same request as a small self-contained page: inline CSS, no script, no external asset,
/// every value HTML-escaped, the identity headers highlighted.
public enum EchoResponder {
    /// - Parameter policy: the policy that prepared `request`; it tells the page which fields
    ///   are identity headers (a field the client may not send, so Cloakroom injected it) and
    ///   where to sign out. Without one, nothing is highlighted.
    public static func response(for request: HTTPRequest, requestID: String, policy: ProxyPolicy? = nil) -> LocalResponse {
        if let accept = request.headerFields[.accept], ProxyPolicy.acceptsHTML(accept) {
            return page(for: request, requestID: requestID, policy: policy)
        }
        var headers: JSONObject = [:]
        for (name, value) in fields(of: request) {
            switch headers[name] {
            case nil: headers[name] = .string(value)
            case .string(let first)?: headers[name] = .array([.string(first), .string(value)])
            case .array(let values)?: headers[name] = .array(values + [.string(value)])
            default: break
            }
        }
        let body: JSONValue = .object([
            "method": .string(request.method.rawValue),
            "path": .string(request.path ?? ""),
            "headers": .object(headers),
        ])
        return .json(status: .ok, body: body.jsonText, requestID: requestID)
    }

    /// `host` (from the authority), then every field in order, names in lower case.
    static func fields(of request: HTTPRequest) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        if let authority = request.authority, !authority.isEmpty { fields.append(("host", authority)) }
        for field in request.headerFields { fields.append((field.name.canonicalName, field.value)) }
        return fields
    }

    /// What a header is to the reader of the page.
    enum Origin: Equatable {
        /// Set from the session by phase 4; the client's copies were removed first.
        case identity
        /// Set by the proxy on every request (`X-Forwarded-*`, `X-Request-Id`).
        case proxy
        /// Passed through from the client.
        case client
    }

    static let proxyFields: Set<String> = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"]

    static func origin(of name: String, policy: ProxyPolicy?) -> Origin {
        if let policy, let fieldName = HTTPField.Name(name), policy.identity.isStripped(fieldName) { return .identity }
        return proxyFields.contains(name) ? .proxy : .client
    }

    static func page(for request: HTTPRequest, requestID: String, policy: ProxyPolicy?) -> LocalResponse {
        let html = EchoPage.render(
            method: request.method.rawValue, path: request.path ?? "",
            fields: fields(of: request).map { ($0.name, $0.value, origin(of: $0.name, policy: policy)) },
            logoutPath: policy?.configuration.logout.path)
        return .page(html: html, contentSecurityPolicy: EchoPage.contentSecurityPolicy, requestID: requestID)
    }
}

/// The echo's HTML page: what a browser shows after signing in to the demo. The fields are
/// grouped by where they come from (the session, the proxy, the client), each group in the
/// order the backend receives them.
enum EchoPage {
    static func render(method: String, path: String, fields: [(String, String, EchoResponder.Origin)], logoutPath: String?) -> String {
        let signedIn = fields.contains { $0.2 == .identity }
        let groups: [(EchoResponder.Origin, String)] = [
            (.identity, "Identity, from the session"), (.proxy, "Set by Cloakroom"), (.client, "From the client"),
        ]
        var rows = ""
        for (origin, heading) in groups {
            let members = fields.filter { $0.2 == origin }
            guard !members.isEmpty else { continue }
            rows += "<tbody><tr class=\"group\"><th colspan=\"2\" scope=\"colgroup\">\(heading)</th></tr>\n"
            for (name, value, _) in members {
                let tag = origin == .identity ? #" <span class="tag">identity</span>"# : ""
                let rowClass = origin == .identity ? #" class="identity""# : ""
                rows += "<tr\(rowClass)><th scope=\"row\">\(escape(name))</th><td><code>\(escape(value))</code>\(tag)</td></tr>\n"
            }
            rows += "</tbody>\n"
        }
        let signOut = signedIn ? logoutPath.map { #"<a class="button" href="\#(escape($0))">Sign out</a>"# } ?? "" : ""
        let lead =
            signedIn
            ? "You are signed in. Cloakroom removed every identity header the client sent, then added the session's."
            : "No session on this request, so Cloakroom added no identity headers."
        return HTMLText.document(
            title: "\(escape(method)) \(escape(path)) · Cloakroom echo", style: style,
            main: """
                <header><h1>What your backend receives</h1>\(signOut)</header>
                <p class="lead">\(lead)</p>
                <p class="request-line"><code>\(escape(method)) \(escape(path))</code></p>
                <table>
                \(rows)</table>
                <p class="note">This is the <code>echo</code> upstream: it answers with the request a backend on \
                this route would get. API clients get the same as JSON.</p>
                """)
    }

    /// Nothing may load; the inline style is the only style. Every value on the page is
    /// escaped, and no script can run.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    /// The login page's palette, light and dark.
    static let style = """
        :root{color-scheme:light dark;--fg:#1d1d1f;--bg:#f5f5f7;--card:#fff;--line:#e3e3e8;--muted:#6e6e73;\
        --accent:#2f5d8a;--on-accent:#fff;--mark:#fff4cc;--mark-line:#e0b400}\
        @media (prefers-color-scheme:dark){:root{--fg:#f2f2f7;--bg:#111214;--card:#1c1d20;--line:#34353a;\
        --muted:#a1a1a6;--accent:#7fb0e0;--on-accent:#111214;--mark:#3a3112;--mark-line:#c9a227}}\
        *{box-sizing:border-box}\
        body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
        main{max-width:52rem;margin:1.5rem auto;padding:1.5rem 2rem;background:var(--card);border-radius:12px;\
        box-shadow:0 1px 3px rgba(0,0,0,.12)}\
        header{display:flex;align-items:center;justify-content:space-between;gap:1rem;flex-wrap:wrap}\
        h1{margin:0;font-size:1.5rem}.lead{margin:.4rem 0 .8rem;color:var(--muted)}\
        code{font:14px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;word-break:break-all}\
        .request-line{margin:0 0 .5rem}.request-line code{font-size:16px;font-weight:600}\
        table{width:100%;border-collapse:collapse}\
        th,td{padding:.3rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}\
        tr.group th{padding-top:1rem;font:600 .75rem/1.4 system-ui,sans-serif;text-transform:uppercase;\
        letter-spacing:.05em;color:var(--muted)}\
        tbody th[scope=row]{width:12rem;font:600 14px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;white-space:nowrap}\
        tr.identity{background:var(--mark)}tr.identity th{box-shadow:inset 4px 0 0 var(--mark-line)}\
        .tag{display:inline-block;margin-left:.5rem;padding:0 .45rem;border-radius:999px;font-size:.75rem;\
        font-weight:600;background:var(--mark-line);color:#1d1d1f}\
        .note{font-size:.9rem;color:var(--muted);margin:1rem 0 0}\
        .button{padding:.4rem 1rem;font-weight:600;color:var(--on-accent);background:var(--accent);\
        border-radius:8px;text-decoration:none}\
        .button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
        """
}
