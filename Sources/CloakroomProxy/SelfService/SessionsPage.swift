import CloakroomLogin
import CloakroomSessions
import Crypto
import HTTPTypes

import struct Foundation.Data
import struct Foundation.Date

/// The self-service page: a signed-in user's own sessions, where and when each was made and
/// last used, "this device" marked, a button per session and one to sign out everywhere else.
///
/// One self-contained HTML document, like the login page: inline CSS (allowed by its hash in
/// ``contentSecurityPolicy``), no JavaScript, no external assets. Each button is a plain form
/// POST (`{page}/{handle}/end`, `{page}/end-others`), so it works without scripts. Every
/// interpolated value (user agents are the client's own text) is HTML-escaped.
enum SessionsPage {
    /// The page for `sessions` (the user's, oldest first), `current` being the request's own.
    static func render(sessions: [Session], current: Session, page: String) -> String {
        // The current session first, then the rest, most recently used first.
        let others = sessions.filter { $0.handle != current.handle }.sorted { $0.lastSeenAt > $1.lastSeenAt }
        let mine = sessions.first { $0.handle == current.handle } ?? current
        let items = ([mine] + others).map { item(for: $0, isCurrent: $0.handle == current.handle, page: page) }.joined()
        let endOthers = others.isEmpty
            ? #"<p class="note">This is your only session.</p>"#
            : """
            <form method="post" action="\(escape(page))/\(SelfServiceRequest.endOthersSegment)">\
            <button id="end-others" type="submit">Sign out everywhere else</button></form>
            """
        let count = sessions.count == 1 ? "1 active session" : "\(max(sessions.count, 1)) active sessions"
        return HTMLText.document(title: "Your sessions · Cloakroom", style: style, main: """
            <h1>Your sessions</h1>
            <p class="lead">Signed in as <strong>\(escape(current.subject))</strong> · \(count). \
            Sign out any you do not recognise.</p>
            <ul class="sessions">
            \(items)</ul>
            \(endOthers)
            """)
    }

    private static func item(for session: Session, isCurrent: Bool, page: String) -> String {
        let userAgent = session.origin.userAgent
        let badge = isCurrent ? #" <span class="badge">This device</span>"# : ""
        let client = session.origin.client.isEmpty ? "unknown address" : session.origin.client
        let label = isCurrent ? "Sign out" : "End session"
        return """
            <li class="session\(isCurrent ? " current" : "")" data-handle="\(escape(session.handle))">\
            <div class="what"><span class="device">\(escape(UserAgentSummary.describe(userAgent)))</span>\(badge)</div>\
            <div class="where">\(escape(client)) · signed in \(shown(session.createdAt)) · last active \(shown(session.lastSeenAt))</div>\
            <div class="agent">\(escape(userAgent.isEmpty ? "No browser details recorded" : userAgent))</div>\
            <form method="post" action="\(escape(page))/\(escape(session.handle))/end">\
            <button class="end" type="submit">\(label)</button></form></li>

            """
    }

    /// The page as a response, with the headers that keep it private and unframed.
    static func response(sessions: [Session], current: Session, page: String, requestID: String) -> LocalResponse {
        var response = LocalResponse.page(
            html: render(sessions: sessions, current: current, page: page), contentSecurityPolicy: contentSecurityPolicy, requestID: requestID)
        response.head.headerFields[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }

    /// `{"sessions":[{"handle","created_at","last_seen_at","expires_at","client","user_agent","current"}]}`,
    /// oldest first.
    static func json(sessions: [Session], current: String, requestID: String) -> LocalResponse {
        let items = sessions.map { session -> JSONValue in
            .object([
                "handle": .string(session.handle),
                "created_at": .string(AdminAPI.timestamp(session.createdAt)),
                "last_seen_at": .string(AdminAPI.timestamp(session.lastSeenAt)),
                "expires_at": .string(AdminAPI.timestamp(session.expiresAt)),
                "client": .string(session.origin.client),
                "user_agent": .string(session.origin.userAgent),
                "current": .bool(session.handle == current),
            ])
        }
        return LocalResponse.json(status: .ok, body: JSONValue.object(["sessions": .array(items)]).jsonText, requestID: requestID)
    }

    /// `2026-11-21 18:40 UTC`.
    private static func shown(_ date: Date) -> String {
        let stamp = AdminAPI.timestamp(date)  // 2026-11-21T18:40:02Z
        return String(stamp.prefix(10)) + " " + String(stamp.dropFirst(11).prefix(5)) + " UTC"
    }

    /// Nothing may load, the inline style is allowed by its hash, forms post only here, and the
    /// page may not be framed (clickjacking would turn its buttons against the user).
    static let contentSecurityPolicy: String = {
        let digest = Data(SHA256.hash(data: Array(style.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(digest)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }()

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    /// The login page's look (same colours, light and dark), a wider card with a list.
    static let style = """
        :root{color-scheme:light dark;--fg:#1d1d1f;--bg:#f5f5f7;--card:#fff;--line:#c7c7cc;--muted:#6e6e73;\
        --accent:#2f5d8a;--on-accent:#fff;--current:#e8f0f8}\
        @media (prefers-color-scheme:dark){:root{--fg:#f2f2f7;--bg:#111214;--card:#1c1d20;--line:#3a3b40;\
        --muted:#a1a1a6;--accent:#7fb0e0;--on-accent:#111214;--current:#1f2a36}}\
        *{box-sizing:border-box}\
        body{margin:0;min-height:100vh;display:flex;align-items:flex-start;justify-content:center;\
        font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
        main{width:100%;max-width:40rem;margin:2rem 1rem;padding:2rem;background:var(--card);border-radius:12px;\
        box-shadow:0 1px 3px rgba(0,0,0,.12)}\
        h1{margin:0;font-size:1.5rem}.lead{margin:.25rem 0 1.5rem;color:var(--muted)}\
        .sessions{list-style:none;margin:0 0 1.5rem;padding:0}\
        .session{display:grid;grid-template-columns:1fr auto;gap:.15rem 1rem;padding:1rem;\
        border:1px solid var(--line);border-radius:8px;margin-bottom:.75rem}\
        .session.current{background:var(--current);border-color:var(--accent)}\
        .what{font-weight:600}.where{font-size:.9rem}\
        .agent{font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}\
        .session form{grid-column:2;grid-row:1/span 3;align-self:center;margin:0}\
        .badge{margin-left:.5rem;padding:.1rem .5rem;font-size:.75rem;font-weight:600;border-radius:999px;\
        color:var(--on-accent);background:var(--accent)}\
        button{padding:.5rem .9rem;font:inherit;font-weight:600;color:var(--accent);background:transparent;\
        border:1px solid var(--accent);border-radius:8px;cursor:pointer}\
        #end-others{width:100%;padding:.7rem;color:var(--on-accent);background:var(--accent);border:0}\
        button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
        .note{color:var(--muted);margin:0}
        """
}
