/// A short, human name for a `User-Agent` ("Firefox on Linux"), for the self-service page's
/// headline of each session; the full value is shown beside it. A heuristic over the common
/// tokens, never trusted for anything: a client may send any value.
enum UserAgentSummary {
    static func describe(_ userAgent: String) -> String {
        guard !userAgent.isEmpty else { return "Unknown device" }
        let browser = Self.browser(userAgent)
        guard let system = Self.system(userAgent) else { return browser ?? Self.product(userAgent) }
        return "\(browser ?? Self.product(userAgent)) on \(system)"
    }

    /// The first product token, as sent (`curl/8.5.0` → `curl`).
    private static func product(_ userAgent: String) -> String {
        let token = userAgent.prefix { $0 != "/" && $0 != " " }
        return token.isEmpty ? "Unknown device" : String(token)
    }

    /// Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    private static func browser(_ userAgent: String) -> String? {
        let rules: [(token: String, name: String)] = [
            ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
            ("HeadlessChrome/", "Chrome (headless)"), ("Chrome/", "Chrome"), ("CriOS/", "Chrome"), ("Safari/", "Safari"),
        ]
        return rules.first { userAgent.contains($0.token) }?.name
    }

    private static func system(_ userAgent: String) -> String? {
        let rules: [(token: String, name: String)] = [
            ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
            ("CrOS", "ChromeOS"), ("Linux", "Linux"),
        ]
        return rules.first { userAgent.contains($0.token) }?.name
    }
}
