import CloakroomStoreConformance
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The real OpenID Connect provider the tests run: IdentityPython's idpyoidc server, hosted by
/// `Tests/Fixtures/idp/idp.py` on 127.0.0.1 (a port of its own), stopped with ``stop()``.
final class IdentityProviderProcess: Sendable {
    static let clientID = "cloakroom"
    static let clientSecret = "test-client-secret-0123456789"

    let issuer: String
    private let process: Process

    private init(issuer: String, process: Process) {
        self.issuer = issuer
        self.process = process
    }

    /// Starts the provider with a client whose callback, back-channel logout and
    /// post-logout URIs are on `proxyBase`. With `accessTokenAudience` its access tokens are
    /// signed JWTs whose `aud` names that audience too (else they are opaque).
    static func start(
        proxyBases: [String], callbackPath: String = "/oauth2/callback", backchannelPath: String = "/oauth2/backchannel-logout",
        accessLifetime: Int = 3600, refreshLifetime: Int = 86400, accessTokenAudience: String? = nil
    ) async throws -> IdentityProviderProcess {
        var arguments = [
            fixture("idp.py"), "--client-id", clientID, "--client-secret", clientSecret, "--access-lifetime", String(accessLifetime),
            "--refresh-lifetime", String(refreshLifetime),
        ]
        if let accessTokenAudience { arguments += ["--access-token-audience", accessTokenAudience] }
        for base in proxyBases {
            arguments += ["--redirect-uri", base + callbackPath, "--post-logout-uri", base + "/"]
        }
        if let first = proxyBases.first { arguments += ["--backchannel-uri", first + backchannelPath] }
        return try await run(arguments)
    }

    /// The `login:` section of a proxy.yaml that signs in through this provider, its callback on
    /// `base`. `passingTokens`: the access token goes to the backend and a refresh token is asked
    /// for (`offline_access`), so the proxy refreshes the token when it is due.
    func loginYAML(base: String, passingTokens: Bool = false) -> String {
        """
        login:
          oidc:
            issuer: "\(issuer)"
            client_id: \(Self.clientID)
            client_secret: \(Self.clientSecret)
            redirect_url: "\(base)/oauth2/callback"
        """ + (passingTokens ? "\n    scopes: [openid, email, profile, offline_access]\n    pass_access_token: true" : "")
    }

    /// Two `cloakroom` binaries sharing `redis` (key prefix `sso:`), both signing in through a
    /// provider started for A's callback (`accessLifetime` seconds per token): `body` gets the
    /// provider, A and B; all three are stopped after it.
    static func withTwoInstances(
        on redis: RedisServerProcess, accessLifetime: Int = 3600, passingTokens: Bool = false,
        _ body: (IdentityProviderProcess, BinaryHarness, BinaryHarness) async throws -> Void
    ) async throws {
        let portA = try freePort()
        let baseA = "http://127.0.0.1:\(portA)"
        let idp = try await start(proxyBases: [baseA], accessLifetime: accessLifetime)
        defer { idp.stop() }
        let oidc = idp.loginYAML(base: baseA, passingTokens: passingTokens)
        let store = "redis: { url: \"\(redis.url)\", key_prefix: \"sso:\" }"
        let a = try await BinaryHarness(store: store, extra: oidc, port: portA)
        try await a.start()
        defer { Task { await a.finish() } }
        let b = try await BinaryHarness(store: store, extra: oidc)
        try await b.start()
        defer { Task { await b.finish() } }
        try await body(idp, a, b)
    }

    /// The deliberately broken provider of `stub_idp.py`, for one refusal path (`mode`).
    static func stub(mode: String) async throws -> IdentityProviderProcess {
        try await run([fixture("stub_idp.py"), "--mode", mode])
    }

    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/idp/\(name)").path
    }

    private static func run(_ arguments: [String]) async throws -> IdentityProviderProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let out = Pipe()
        process.standardOutput = out
        let log = ProcessInfo.processInfo.environment["CLOAKROOM_IDP_LOG"].flatMap { FileHandle(forWritingAtPath: $0) }
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
        let line: String = try await offPool {
            var bytes: [UInt8] = []
            while true {
                let chunk = out.fileHandleForReading.readData(ofLength: 1)
                if chunk.isEmpty { break }
                if chunk[0] == UInt8(ascii: "\n") { break }
                bytes.append(chunk[0])
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard line.hasPrefix("issuer=") else {
            process.terminate()
            throw IdentityProviderError.didNotStart(line)
        }
        return IdentityProviderProcess(issuer: String(line.dropFirst("issuer=".count)), process: process)
    }

    /// SIGKILL: the provider keeps no state worth a clean exit, and a SIGTERM could be
    /// ignored (the test process ignores it for the proxy's graceful shutdown, and children
    /// inherit that).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

enum IdentityProviderError: Error { case didNotStart(String), noForm(String), unexpected(String) }

/// A browser without JavaScript: curl with a cookie jar, following the redirects by hand so
/// each hop can be checked.
struct CookieJarBrowser {
    let jar: String

    init() {
        jar = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-jar-\(UUID().uuidString)").path
    }

    func get(_ url: String, _ extra: [String] = []) async throws -> ClientResponse {
        try await Curl.get(url, ["-c", jar, "-b", jar, "-H", "Accept: text/html"] + extra)
    }

    func post(_ url: String, form: [(String, String)]) async throws -> ClientResponse {
        var arguments = ["-c", jar, "-b", jar, "-H", "Accept: text/html"]
        for (name, value) in form { arguments += ["--data-urlencode", "\(name)=\(value)"] }
        return try await Curl.get(url, arguments)
    }

    /// Follows `Location`s from `response` (resolving paths against the URL they came from)
    /// until a non-redirect; returns it with the URL it came from.
    func follow(_ response: ClientResponse, from url: String, limit: Int = 10) async throws -> (ClientResponse, String) {
        var current = response, currentURL = url
        for _ in 0..<limit {
            guard (300..<400).contains(current.status), let location = current.header("location") else { return (current, currentURL) }
            currentURL = Self.resolve(location, against: currentURL)
            current = try await get(currentURL)
        }
        return (current, currentURL)
    }

    static func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        let origin = base.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).prefix(3).joined(separator: "/")
        if location.hasPrefix("/") { return origin + location }
        let directory = base.split(separator: "?")[0]
        return String(directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)]) + "/" + location
    }

    /// Signs in at the provider's login page (`page`, reached at `url`) and follows the
    /// redirects back. Returns the final response and URL.
    func signInAtProvider(_ page: ClientResponse, url: String, user: String, password: String) async throws -> (ClientResponse, String) {
        guard let token = Self.hiddenValue("token", in: page.body) else { throw IdentityProviderError.noForm(String(page.body.prefix(300))) }
        let action = Self.resolve("verify/user", against: url)
        let posted = try await post(action, form: [("token", token), ("username", user), ("password", password)])
        return try await follow(posted, from: action)
    }

    static func hiddenValue(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = html[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// Logs out at the provider (its own session, found by its cookie): the confirmation page,
    /// then the form post that makes it send back-channel logouts.
    func logOutAtProvider(issuer: String) async throws -> ClientResponse {
        let page = try await get(issuer + "/session")
        let (confirm, url) = try await follow(page, from: issuer + "/session")
        guard let sjwt = Self.hiddenValue("sjwt", in: confirm.body) else { throw IdentityProviderError.noForm(String(confirm.body.prefix(300))) }
        return try await post(Self.resolve("rp_logout", against: url), form: [("sjwt", sjwt), ("logout", "yes")])
    }

    /// The proxy's session cookie as a `name=value` pair, from the jar.
    func cookie(named name: String) -> String? {
        guard let text = try? String(contentsOfFile: jar, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where !line.hasPrefix("# ") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            if fields.count >= 7, fields[5] == name { return "\(name)=\(fields[6])" }
        }
        return nil
    }
}
