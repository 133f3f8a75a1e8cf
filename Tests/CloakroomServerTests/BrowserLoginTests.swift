import CloakroomConfig
import CloakroomLogin
import Foundation
import Testing

/// The built-in login end to end: real HTTP clients for the protocol details, and a real
/// headless Chromium for the browser flow.
@Suite(.serialized) struct BrowserLoginTests {
    static let password = "correct horse battery"

    /// The proxy with the built-in login, `/` on the echo upstream (required), a users file with
    /// `demo` (email, roles).
    static func start(_ adjust: @escaping (inout Configuration) -> Void = { _ in }) async throws -> (ProxyHarness, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-users-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let users = directory.appendingPathComponent("users.yaml").path
        try UsersFile.upsert(path: users, name: "demo", password: password, email: "demo@example.com", roles: ["reader"])
        let proxy = try await ProxyHarness.start { configuration in
            configuration.login.usersFile = users
            configuration.login.throttle.maxFailures = 3
            configuration.routes = [
                Route(path: "/api/", upstream: "api", auth: .required),
                Route(path: "/", upstream: "echo", auth: .required),
            ]
            adjust(&configuration)
        }
        return (proxy, users)
    }

    @Test func formLoginJSONLoginAndWrongPasswords() async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let page = try await Curl.get("\(proxy.base)/login")
        #expect(page.status == 200)
        #expect(page.header("content-type")?.hasPrefix("text/html") == true)
        #expect(page.body.contains("Cloakroom") && page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""))

        // A browser without a session is sent to the login page with `next`; an API client gets 401.
        let browser = try await Curl.get("\(proxy.base)/reports?x=1", ["-H", "Accept: text/html"])
        #expect(browser.status == 303)
        #expect(browser.header("location") == "/login?next=/reports%3Fx%3D1")
        #expect(try await Curl.get("\(proxy.base)/reports").status == 401)

        let form = try await Curl.get(
            "\(proxy.base)/login", ["--data-urlencode", "username=demo", "--data-urlencode", "password=\(Self.password)", "--data-urlencode", "next=/reports"])
        #expect(form.status == 303)
        #expect(form.header("location") == "/reports")
        let cookie = try #require(form.header("set-cookie")?.split(separator: ";").first.map(String.init))
        let echoed = try await Curl.get("\(proxy.base)/reports", ["-H", "Cookie: \(cookie)"])
        #expect(echoed.body.contains("\"x-user-id\":\"demo\""), "\(echoed.body)")
        #expect(echoed.body.contains("\"x-user-email\":\"demo@example.com\""))

        let json = try await Curl.get(
            "\(proxy.base)/login", ["-H", "Content-Type: application/json", "--data", "{\"username\":\"demo\",\"password\":\"\(Self.password)\"}"])
        #expect(json.status == 303)
        #expect(json.header("set-cookie") != nil)

        let wrong = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=nope"])
        let unknown = try await Curl.get("\(proxy.base)/login", ["--data", "username=nobody&password=nope"])
        #expect(wrong.status == 401 && unknown.status == 401)
        #expect(wrong.body.replacingOccurrences(of: "demo", with: "X") == unknown.body.replacingOccurrences(of: "nobody", with: "X"), "same answer")
        #expect(wrong.header("set-cookie") == nil)
        let jsonWrong = try await Curl.get("\(proxy.base)/login", ["-H", "Content-Type: application/json", "--data", "{\"username\":\"demo\",\"password\":\"x\"}"])
        #expect(jsonWrong.body == "{\"error\":\"invalid_credentials\"}")
    }

    @Test func unknownUserTakesAsLongAsAWrongPassword() async throws {
        let (proxy, _) = try await Self.start { $0.login.throttle.maxFailures = 100 }
        defer { Task { await proxy.stop() } }
        func time(_ user: String) async throws -> Double {
            let out = try await offPool {
                try Curl.run(["-s", "-o", "/dev/null", "-w", "%{time_total}", "--data", "username=\(user)&password=wrong-password", "\(proxy.base)/login"])
            }
            return Double(out) ?? 0
        }
        var wrong: [Double] = [], unknown: [Double] = []
        for _ in 0..<5 {
            wrong.append(try await time("demo"))
            unknown.append(try await time("nobody-\(UUID().uuidString.prefix(6))"))
        }
        let ratio = wrong.sorted()[2] / unknown.sorted()[2]
        // Skipping the hash for an unknown user would make the ratio tens; the band allows for load.
        #expect(ratio > 0.25 && ratio < 4, "median wrong-password \(wrong.sorted()[2])s vs unknown-user \(unknown.sorted()[2])s")
    }

    @Test func repeatedFailuresAreThrottledWith429() async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        for _ in 0..<3 { _ = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=nope"]) }
        let limited = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=\(Self.password)"])
        #expect(limited.status == 429)
        #expect(Int(limited.header("retry-after") ?? "") ?? 0 >= 1)
        // Per client address too: another username from the same client is also held back.
        let other = try await Curl.get("\(proxy.base)/login", ["--data", "username=someone&password=nope"])
        #expect(other.status == 429)
    }

    /// Found by a black-box audit: guesses sent at once were all checked, the right password
    /// among them signing in. Now at most `max_failures` passwords are checked; the rest wait.
    @Test func guessesSentAtOnceAreThrottledToo() async throws {
        let (proxy, _) = try await Self.start()  // max_failures 3
        defer { Task { await proxy.stop() } }
        let base = proxy.base
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for attempt in 0..<12 {
                let password = attempt == 10 ? Self.password : "guess-\(attempt)"
                group.addTask { try await Curl.get("\(base)/login", ["--data", "username=demo&password=\(password)"]).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 != 429 }.count <= 3, "\(statuses.sorted())")
        #expect(statuses.allSatisfy { [401, 303, 429].contains($0) }, "\(statuses.sorted())")
    }

    @Test(arguments: ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)", "\\/evil.com"])
    func openRedirectVectorsGoHome(_ next: String) async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        let response = try await Curl.get(
            "\(proxy.base)/login", ["--data-urlencode", "username=demo", "--data-urlencode", "password=\(Self.password)", "--data-urlencode", "next=\(next)"])
        #expect(response.status == 303)
        #expect(response.header("location") == "/", "\(next) → \(response.header("location") ?? "nil")")
    }

    /// `next` may come in the login URL's query (`POST /login?next=/foo/bar`, as the page a
    /// browser was sent to posts back to itself), in a form or a JSON login; the body's field
    /// wins when both are given, and the query's is held to the same rule (same-origin paths).
    @Test func nextFromTheQueryStringIsHonoured() async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        func login(query next: String, _ arguments: [String] = []) async throws -> String? {
            let encoded = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? next
            let response = try await Curl.get("\(proxy.base)/login?next=\(encoded)", arguments.isEmpty
                ? ["--data-urlencode", "username=demo", "--data-urlencode", "password=\(Self.password)"] : arguments)
            #expect(response.status == 303, "\(next): \(response.body)")
            return response.header("location")
        }
        #expect(try await login(query: "/foo/bar") == "/foo/bar")
        #expect(try await login(query: "/reports?x=1") == "/reports?x=1")
        let json = ["-H", "Content-Type: application/json", "--data", #"{"username":"demo","password":"\#(Self.password)"}"#]
        #expect(try await login(query: "/from-json", json) == "/from-json")
        let both = [
            "--data-urlencode", "username=demo", "--data-urlencode", "password=\(Self.password)", "--data-urlencode", "next=/from-body",
        ]
        #expect(try await login(query: "/from-query", both) == "/from-body", "the body's field wins")
        for unsafe in ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"] {
            #expect(try await login(query: unsafe) == "/", "\(unsafe)")
        }
        // A failed login keeps the query's `next` in the page it answers with.
        let wrong = try await Curl.get("\(proxy.base)/login?next=%2Ffoo%2Fbar", ["--data", "username=demo&password=nope"])
        #expect(wrong.status == 401)
        #expect(wrong.body.contains(#"value="/foo/bar""#), "\(wrong.body)")
    }

    @Test func crossSiteUnsafeRequestsWithTheCookieAreRejected() async throws {
        let (proxy, _) = try await Self.start { $0.session.trustedOrigins = ["https://app.example.com"] }
        defer { Task { await proxy.stop() } }
        let login = try await Curl.get("\(proxy.base)/login", ["--data", "username=demo&password=\(Self.password.replacingOccurrences(of: " ", with: "+"))"])
        let cookie = try #require(login.header("set-cookie")?.split(separator: ";").first.map(String.init))
        let own = "http://127.0.0.1:\(proxy.port)"
        let cases: [([String], Int, String)] = [
            (["-X", "POST", "-H", "Sec-Fetch-Site: cross-site", "-H", "Origin: https://evil.com"], 403, "cross-site fetch"),
            (["-X", "DELETE", "-H", "Origin: https://evil.com"], 403, "foreign Origin without Sec-Fetch-Site"),
            (["-X", "PUT", "-H", "Origin: null"], 403, "null Origin"),
            (["-X", "POST", "-H", "Sec-Fetch-Site: same-origin", "-H", "Origin: \(own)"], 200, "same origin"),
            (["-X", "POST", "-H", "Origin: \(own)"], 200, "own Origin"),
            (["-X", "POST", "-H", "Sec-Fetch-Site: cross-site", "-H", "Origin: https://app.example.com"], 200, "trusted origin"),
            (["-X", "POST"], 200, "no browser headers (API client)"),
            (["-H", "Sec-Fetch-Site: cross-site", "-H", "Origin: https://evil.com"], 200, "safe method"),
        ]
        for (arguments, expected, name) in cases {
            let response = try await Curl.get("\(proxy.base)/api/thing", ["-H", "Cookie: \(cookie)"] + arguments)
            #expect(response.status == expected, "\(name): \(response.status) \(response.body)")
            if expected == 403 { #expect(response.body == "{\"error\":\"csrf\"}") }
        }
        // Login CSRF: a cross-site form post to the login is refused too.
        let forced = try await Curl.get("\(proxy.base)/login", ["-H", "Sec-Fetch-Site: cross-site", "--data", "username=demo&password=x"])
        #expect(forced.status == 403)
    }

    /// A real browser: `/` → login page → sign in → the echoed request shows the identity →
    /// log out → back on the login page. Screenshots go to `$CLOAKROOM_SCREENSHOTS` when set.
    @Test func headlessChromiumSignsInAndOut() async throws {
        let (proxy, _) = try await Self.start()
        defer { Task { await proxy.stop() } }
        // Quit awaited, not deferred to a task: a task may never run before the test process
        // exits, which left chromedriver and Chromium running after every test run.
        try await WebDriver.with { browser in
            let screenshots = ProcessInfo.processInfo.environment["CLOAKROOM_SCREENSHOTS"]

            try await browser.open("\(proxy.base)/")
            #expect(try await browser.currentURL().contains("/login"), "redirected to the login page")
            if let screenshots { try await browser.screenshot().write(to: URL(fileURLWithPath: "\(screenshots)/login.png")) }
            try await browser.type("demo", into: "input[name=username]")
            try await browser.type(Self.password, into: "input[name=password]")
            try await browser.click("#sign-in")
            try await Task.sleep(for: .milliseconds(300))
            // The echo answers a browser with a page: the request as the backend gets it, the
            // identity headers highlighted.
            let text = try await browser.bodyText()
            #expect(text.contains("What your backend receives"), "\(text.prefix(400))")
            #expect(text.contains("x-user-id") && text.contains("demo@example.com"), "\(text.prefix(400))")
            #expect(!text.contains("cloakroom_session"), "the cookie is not forwarded upstream")
            let source = try await browser.source()
            #expect(source.contains(#"<tr class="identity"><th scope="row">x-user-id</th><td><code>demo</code>"#), "\(source.prefix(2000))")
            if let screenshots { try await browser.screenshot().write(to: URL(fileURLWithPath: "\(screenshots)/echo.png")) }

            try await browser.click("a.button")  // Sign out
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await browser.currentURL().contains("/login"), "after signing out, / sends the browser to the login page again")
            try await browser.open("\(proxy.base)/")
            #expect(try await browser.currentURL().contains("/login"), "the session is gone")

            try await browser.type("demo", into: "input[name=username]")
            try await browser.type("wrong password", into: "input[name=password]")
            try await browser.click("#sign-in")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await browser.source().contains("Wrong username or password"))
        }
    }
}
