/// The page a browser gets when a sign-in through the identity provider does not complete:
/// refused (401 `login_failed`) or the provider out of reach (502
/// `identity_provider_unavailable`). Self-contained like ``ForbiddenPage`` and served with its
/// ``ForbiddenPage/contentSecurityPolicy``; it says nothing about why beyond the kind (the
/// reason is in the log), and offers the way back to the login.
public enum SignInProblemPage {
    public enum Kind: Sendable {
        /// The provider or the proxy refused the login.
        case failed
        /// The identity provider could not be reached.
        case providerUnavailable
    }

    public static func render(_ kind: Kind, retryPath: String, requestID: String) -> String {
        let (title, lead) =
            switch kind {
            case .failed:
                ("Sign-in failed", "The sign-in through the identity provider could not be completed.")
            case .providerUnavailable:
                ("Sign-in unavailable", "The identity provider cannot be reached at the moment. Please try again shortly.")
            }
        return HTMLText.document(title: "\(title) · Cloakroom", style: ForbiddenPage.style, main: """
        <h1>\(title)</h1>
        <p class="lead" role="alert">\(lead)</p>
        <p><a id="retry" href="\(HTMLText.escape(retryPath))">Try again</a></p>
        <p>If it keeps happening, quote request <code>\(HTMLText.escape(requestID))</code>.</p>
        """)
    }
}
