import Foundation
import Testing

/// The self-service page in a real browser (headless Chromium, no JavaScript needed by the
/// page): sign in, see every session of the account with "this device" marked, end one, then
/// sign out everywhere else. A screenshot goes to `$CLOAKROOM_SCREENSHOTS/sessions.png`.
@Suite(.serialized) struct SelfServiceBrowserTests {
    static let page = "/.cloakroom/sessions"

    @Test func headlessChromiumListsAndEndsSessions() async throws {
        let (proxy, _) = try await BrowserLoginTests.start { $0.session.selfService = Self.page }
        defer { Task { await proxy.stop() } }
        // Two other devices of the same account, signed in with curl under browser names.
        let password = BrowserLoginTests.password.replacingOccurrences(of: " ", with: "+")
        var elsewhere: [String] = []
        for agent in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        ] {
            let login = try await Curl.get("\(proxy.base)/login", ["-A", agent, "--data", "username=demo&password=\(password)"])
            elsewhere.append(try #require(login.header("set-cookie")?.split(separator: ";").first.map(String.init)))
        }

        try await WebDriver.with { browser in
            try await browser.open("\(proxy.base)\(Self.page)")
            #expect(try await browser.currentURL().contains("/login?next="), "signed out: sent to the login page")
            try await browser.type("demo", into: "input[name=username]")
            try await browser.type(BrowserLoginTests.password, into: "input[name=password]")
            try await browser.click("#sign-in")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await browser.currentURL().hasSuffix(Self.page), "back on the page after signing in")

            var text = try await browser.bodyText()
            #expect(text.contains("Your sessions") && text.contains("3 active sessions"), "\(text.prefix(600))")
            #expect(text.contains("This device"))
            #expect(text.contains("Safari on iPhone") && text.contains("Edge on Windows") && text.contains("on Linux"), "\(text)")
            #expect(text.contains("127.0.0.1"))
            if let directory = ProcessInfo.processInfo.environment["CLOAKROOM_SCREENSHOTS"] {
                try await browser.screenshot().write(to: URL(fileURLWithPath: "\(directory)/sessions.png"))
            }

            // End the first other session: the page comes back without it.
            try await browser.click("li.session:not(.current) button.end")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await browser.currentURL().hasSuffix(Self.page))
            text = try await browser.bodyText()
            #expect(text.contains("2 active sessions"), "\(text.prefix(600))")

            // Sign out everywhere else: only this device is left.
            try await browser.click("#end-others")
            try await Task.sleep(for: .milliseconds(300))
            text = try await browser.bodyText()
            #expect(text.contains("1 active session") && text.contains("This is your only session"), "\(text.prefix(600))")
            #expect(text.contains("This device"))
        }
        for cookie in elsewhere {
            #expect(try await Curl.get("\(proxy.base)/api/x", ["-H", "Cookie: \(cookie)"]).status == 401, "ended on the page")
        }
        #expect(try await proxy.server.store.sessions(subject: "demo").count == 1)
    }
}
