import Foundation

/// A W3C WebDriver client for a local chromedriver driving headless Chromium (Debian's
/// `chromium` and `chromium-driver`), spoken with curl. No browser download at run time.
final class WebDriver: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let driver: Process
    let base: String
    let session: String

    static func start() async throws -> WebDriver {
        let port = try freePort()
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
        driver.arguments = ["--port=\(port)"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<100 {
            if (try? await offPool { try Curl.run(["-s", "\(base)/status"]) })?.contains("\"ready\":true") == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let capabilities: [String: Any] = [
            "capabilities": ["alwaysMatch": [
                "browserName": "chrome",
                "goog:chromeOptions": [
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,720",
                             "--user-data-dir=\(FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)").path)"],
                ],
            ]]
        ]
        let answer = try await call("POST", "\(base)/session", capabilities)
        guard let value = answer["value"] as? [String: Any], let session = value["sessionId"] as? String else {
            driver.terminate()
            throw Failure(description: "chromedriver gave no session: \(answer)")
        }
        return WebDriver(driver: driver, base: base, session: session)
    }

    private init(driver: Process, base: String, session: String) {
        self.driver = driver
        self.base = base
        self.session = session
    }

    @discardableResult
    static func call(_ method: String, _ url: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var arguments = ["-s", "-X", method, "--max-time", "60", url]
        if let body {
            let data = try JSONSerialization.data(withJSONObject: body)
            arguments += ["-H", "Content-Type: application/json", "--data-binary", String(decoding: data, as: UTF8.self)]
        }
        let command = arguments
        let output = try await offPool { try Curl.run(command) }
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw Failure(description: "not JSON from chromedriver: \(output.prefix(300))")
        }
        if let value = object["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure(description: "\(error): \(value["message"] ?? "")")
        }
        return object
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        try await Self.call(method, "\(base)/session/\(session)\(path)", body)["value"] ?? nil
    }

    func open(_ url: String) async throws { try await command("POST", "/url", ["url": url]) }
    func currentURL() async throws -> String { try await command("GET", "/url") as? String ?? "" }
    func source() async throws -> String { try await command("GET", "/source") as? String ?? "" }
    func bodyText() async throws -> String {
        try await command("POST", "/execute/sync", ["script": "return document.body.innerText", "args": []]) as? String ?? ""
    }

    /// Runs `script` in the current page; it ends by calling its last argument with the
    /// result (WebDriver's `execute/async`), which is returned as JSON text.
    func executeAsync(_ script: String) async throws -> String {
        let value = try await command("POST", "/execute/async", ["script": script, "args": []])
        return value as? String ?? "\(value ?? "null")"
    }

    func element(_ css: String) async throws -> String {
        guard let value = try await command("POST", "/element", ["using": "css selector", "value": css]) as? [String: Any],
            let id = value.values.first as? String
        else { throw Failure(description: "no element \(css)") }
        return id
    }

    func type(_ text: String, into css: String) async throws {
        let id = try await element(css)
        try await command("POST", "/element/\(id)/value", ["text": text])
    }

    func click(_ css: String) async throws {
        let id = try await element(css)
        try await command("POST", "/element/\(id)/click", [:])
    }

    /// A PNG of the viewport.
    func screenshot() async throws -> Data {
        guard let text = try await command("GET", "/screenshot") as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        return data
    }

    /// Runs `body` with a browser and quits it afterwards, also when `body` throws.
    static func with(_ body: (WebDriver) async throws -> Void) async throws {
        let browser = try await start()
        do {
            try await body(browser)
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    func quit() async {
        _ = try? await command("DELETE", "")
        driver.terminate()
        // Bounded: Foundation's waitUntilExit spins a run loop, and never returned here.
        for _ in 0..<50 where driver.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
    }
}
