import CloakroomLogin
import Foundation
import Testing

@Suite struct LoginPageTests {
    @Test func escapesEveryInterpolatedValue() {
        let hostile = #"<script>alert("x")</script>'&"#
        let page = LoginPage.render(action: "/login\"><script>", next: hostile, error: hostile, username: hostile)
        #expect(!page.contains("<script>"))
        #expect(!page.contains(#"alert("x")"#))
        #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;"))
        #expect(page.contains(#"action="/login&quot;&gt;&lt;script&gt;""#))
    }

    @Test func hasTheFormTheServerExpects() {
        let page = LoginPage.render(action: "/login", next: "/app?x=1", error: nil, username: nil)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.contains("Cloakroom"))
        #expect(page.contains(#"<form method="post" action="/login">"#))
        #expect(page.contains(#"<label for="username">"#) && page.contains(#"id="username" name="username""#))
        #expect(page.contains(#"<label for="password">"#) && page.contains(#"id="password" name="password" type="password""#))
        #expect(page.contains(#"autocomplete="username""#) && page.contains(#"autocomplete="current-password""#))
        #expect(page.contains(#"<input type="hidden" name="next" value="/app?x=1">"#))
        #expect(page.contains(#"<button id="sign-in" type="submit">"#))
        #expect(!page.contains("role=\"alert\""))
    }

    @Test func showsTheErrorAsAnAlert() {
        let page = LoginPage.render(action: "/login", next: nil, error: "Wrong username or password.", username: "alice")
        #expect(page.contains(#"role="alert">Wrong username or password.</p>"#))
        #expect(page.contains(#"aria-describedby="login-error""#))
        #expect(page.contains(#"value="alice""#))
        #expect(page.contains(#"<input type="hidden" name="next" value="">"#))
    }

    @Test func isSelfContained() {
        let page = LoginPage.render(action: "/login", next: nil, error: "e", username: nil)
        for forbidden in ["<script", "<link", "src=", "http://", "https://", "@import", "url("] {
            #expect(!page.contains(forbidden), "\(forbidden)")
        }
    }

    @Test func policyAllowsExactlyTheInlineStyle() throws {
        let policy = LoginPage.contentSecurityPolicy
        #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"))
        #expect(policy.contains("form-action 'self'"))
        #expect(policy.contains("style-src 'sha256-"))
        let page = LoginPage.render(action: "/login", next: nil, error: nil, username: nil)
        #expect(page.components(separatedBy: "<style>").count == 2, "one inline style element, covered by the hash")
    }
}
