import Crypto
import struct Foundation.Data

/// The built-in login form: one self-contained HTML document with inline CSS, no external
/// assets and no JavaScript.
///
/// The form POSTs to `action` with the fields `username`, `password` and a hidden `next`; the
/// submit button has `id="sign-in"`. Inputs carry `<label for>` labels and `autocomplete`
/// hints (`username`, `current-password`) so password managers fill them. When `error` is set it
/// is shown above the form in an element with `role="alert"` (read out by screen readers) and
/// the inputs point at it with `aria-describedby`. Every interpolated value is HTML-escaped.
///
/// Serve it with ``contentSecurityPolicy``, which allows exactly this page's inline style.
public enum LoginPage {
    /// The page, as UTF-8 text. `username` pre-fills the username field after a failed attempt
    /// (the password field never is); focus goes to the first empty field.
    ///
    /// `singleSignOn` (a label and a URL) adds a "Sign in with {label}" link beside the form
    /// (`id="sign-in-sso"`), when an identity provider is configured too.
    public static func render(
        action: String, next: String?, error: String?, username: String?, singleSignOn: (label: String, href: String)? = nil
    ) -> String {
        let ssoLink = singleSignOn.map {
            #"<p class="lead"><a id="sign-in-sso" href="\#(escape($0.href))">Sign in with \#(escape($0.label))</a></p>"#
        } ?? ""
        let describedBy = error == nil ? "" : #" aria-describedby="login-error" aria-invalid="true""#
        let alert = error.map { #"<p class="error" id="login-error" role="alert">\#(escape($0))</p>"# } ?? ""
        let focusUser = (username ?? "").isEmpty ? " autofocus" : ""
        let focusPassword = focusUser.isEmpty ? " autofocus" : ""
        return HTMLText.document(title: "Sign in · Cloakroom", style: style, main: """
            <h1>Cloakroom</h1>
            <p class="lead">Sign in to continue.</p>
            \(alert)
            <form method="post" action="\(escape(action))">
            <input type="hidden" name="next" value="\(escape(next ?? ""))">
            <label for="username">Username</label>
            <input id="username" name="username" type="text" value="\(escape(username ?? ""))" \
            autocomplete="username" autocapitalize="none" spellcheck="false" required\(focusUser)\(describedBy)>
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" \
            required\(focusPassword)\(describedBy)>
            <button id="sign-in" type="submit">Sign in</button>
            </form>
            \(ssoLink)
            """)
    }

    /// A `Content-Security-Policy` value for the page: nothing may load, the inline style is
    /// allowed by its hash, the form may post only to this origin, and the page may not be
    /// framed (against clickjacking).
    public static let contentSecurityPolicy: String = {
        let digest = Data(SHA256.hash(data: Array(style.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(digest)'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'"
    }()

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    /// The inline style sheet; its hash is in ``contentSecurityPolicy``.
    static let style = """
        :root{color-scheme:light dark;--fg:#1d1d1f;--bg:#f5f5f7;--card:#fff;--line:#c7c7cc;\
        --accent:#2f5d8a;--on-accent:#fff;\
        --error-bg:#fdecea;--error-fg:#8a1c12}\
        @media (prefers-color-scheme:dark){:root{--fg:#f2f2f7;--bg:#111214;--card:#1c1d20;--line:#3a3b40;\
        --accent:#7fb0e0;--on-accent:#111214;--error-bg:#3b1714;--error-fg:#ffb4ab}}\
        *{box-sizing:border-box}\
        body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
        font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
        main{width:100%;max-width:22rem;margin:1rem;padding:2rem;background:var(--card);border-radius:12px;\
        box-shadow:0 1px 3px rgba(0,0,0,.12)}\
        h1{margin:0;font-size:1.5rem}.lead{margin:.25rem 0 1.5rem;opacity:.75}\
        label{display:block;margin:1rem 0 .25rem;font-weight:600}\
        input{width:100%;padding:.6rem .75rem;font:inherit;color:inherit;background:transparent;\
        border:1px solid var(--line);border-radius:8px}\
        input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
        button{width:100%;margin-top:1.5rem;padding:.7rem;font:inherit;font-weight:600;color:var(--on-accent);\
        background:var(--accent);border:0;border-radius:8px;cursor:pointer}\
        .error{margin:0 0 1rem;padding:.75rem;border-radius:8px;color:var(--error-fg);background:var(--error-bg)}
        """
}
