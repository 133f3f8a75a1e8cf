import Crypto
import struct Foundation.Data

/// The page a browser gets when it is signed in but a route's `allow` does not admit its
/// session (403): self-contained like ``LoginPage`` (inline CSS, no external assets, no
/// JavaScript), with a link that signs out, so another account can be used.
///
/// It shows nothing about the session (no name, no attributes), only the request ID to quote.
/// Serve it with ``contentSecurityPolicy``.
public enum ForbiddenPage {
    public static func render(logoutPath: String, requestID: String) -> String {
        HTMLText.document(title: "Access denied · Cloakroom", style: style, main: """
        <h1>Access denied</h1>
        <p class="lead">You are signed in, but your account may not use this page.</p>
        <p>If you think it should, ask an administrator and quote request <code>\(LoginPage.escape(requestID))</code>.</p>
        <p><a href="\(LoginPage.escape(logoutPath))">Sign out</a> to use another account.</p>
        """)
    }

    /// Nothing may load, the inline style is allowed by its hash, and the page may not be framed.
    public static let contentSecurityPolicy: String = {
        let digest = Data(SHA256.hash(data: Array(style.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'sha256-\(digest)'; frame-ancestors 'none'; base-uri 'none'"
    }()

    /// The login page's style sheet, plus links and code.
    static let style = LoginPage.style + "a{color:var(--accent);font-weight:600}code{font-size:.9em}"
}
