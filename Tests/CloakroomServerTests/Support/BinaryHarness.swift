import Foundation
import Synchronization
import Testing

/// The real `cloakroom` binary serving a config in a temporary directory, in front of a
/// ``TestBackend``, with an admin listener. Ports are picked free up front (the binary cannot
/// report `:0` back), stdout (the access log) and stderr captured to files.
final class BinaryHarness: @unchecked Sendable {
    static let token = "test-admin-token-0123456789abcdef0123"
    static let secret = "test-cookie-secret-0123456789abcdef01234"

    let directory: URL
    let port: Int
    let adminPort: Int
    let backend: TestBackend
    var process: Process?
    var base: String { "http://127.0.0.1:\(port)" }
    var admin: String { "http://127.0.0.1:\(adminPort)" }
    var configPath: String { directory.appendingPathComponent("proxy.yaml").path }
    var stdoutPath: String { directory.appendingPathComponent("stdout.log").path }
    var stderrPath: String { directory.appendingPathComponent("stderr.log").path }
    var databasePath: String { directory.appendingPathComponent("sessions.db").path }

    static let defaultRoutes = """
        routes:
          - path: /public/
            upstream: api
            auth: none
          - path: /
            upstream: api
        """

    /// - Parameter extra: more top-level YAML (e.g. `shutdown_timeout: 1s`).
    /// - Parameter session: more keys of the `session` section, one per line (e.g.
    ///   `max_per_user: 2`).
    /// - Parameter routes: the `routes` section, in front of the `api` upstream.
    /// - Parameter port: the public port, when it must be known before (a single sign-on
    ///   callback URL); a free one otherwise.
    init(
        store: String = "memory: {}", extra: String = "", session: String = "", routes: String = BinaryHarness.defaultRoutes,
        port: Int? = nil
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-bin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        backend = try await TestBackend.start()
        self.port = try port ?? freePort()
        adminPort = try freePort()
        let storeLine = store.replacingOccurrences(of: "$DB", with: databasePath)
        let sessionLines = session.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        try """
            listen:
              - address: "127.0.0.1:\(self.port)"
            session:
              secrets: ["\(Self.secret)"]
              store:
                \(storeLine)
            \(sessionLines)
            \(routes)
            upstreams:
              api:
                targets: ["http://127.0.0.1:\(backend.port)"]
            admin:
              listen: "127.0.0.1:\(adminPort)"
              token: "${CLOAKROOM_ADMIN_TOKEN}"
            \(extra)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the binary and waits until it answers. `environment` is added to the test's own.
    func start(environment: [String: String] = [:]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
        process.arguments = ["serve", "--config", configPath]
        process.environment = ProcessInfo.processInfo.environment.merging(["CLOAKROOM_ADMIN_TOKEN": Self.token]) { $1 }
            .merging(environment) { $1 }
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        out.seekToEndOfFile()
        process.standardOutput = out
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
        self.process = process
        var last = 0
        for _ in 0..<150 {
            last = (try? await Curl.get("\(admin)/healthz", ["--max-time", "1"]).status) ?? 0
            if last == 200 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Why, for the test's failure: the binary's exit and what it said, or healthz's answer.
        let said = (try? String(contentsOfFile: stderrPath, encoding: .utf8)).map { String($0.suffix(1500)) } ?? ""
        throw HarnessError.notStarted(
            process.isRunning ? "healthz answered \(last) (0: no answer)" : "exited with \(process.terminationStatus)", stderr: said)
    }

    /// SIGTERM (clean) or SIGKILL (crash), then waits for the exit.
    func stop(signal: Int32 = SIGTERM) async throws {
        guard let process else { return }
        kill(process.processIdentifier, signal)
        try await offPool { process.waitUntilExit() }
        self.process = nil
    }

    func finish() async {
        try? await stop()
        await backend.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    func login(_ sub: String) async throws -> String {
        let response = try await Curl.get("\(base)/login?sub=\(sub)")
        guard let pair = response.header("set-cookie")?.split(separator: ";").first else { throw HarnessError.noCookie(response.status) }
        return String(pair)
    }

    func status(_ cookie: String, _ path: String = "/api/me") async throws -> Int {
        try await Curl.get("\(base)\(path)", ["-H", "Cookie: \(cookie)"]).status
    }

    /// Runs `cloakroom ARGS` against this instance's config.
    func cli(_ arguments: [String], environment: [String: String] = [:]) async throws -> CommandLineTests.Run {
        try await CommandLineTests.run(arguments, environment: ["CLOAKROOM_CONFIG": configPath, "CLOAKROOM_ADMIN_TOKEN": Self.token].merging(environment) { $1 })
    }
}

/// A port that was free a moment ago, for a process that binds it later (the binary cannot
/// report `:0` back).
///
/// Picked below the kernel's ephemeral range (32768–60999 here), where the outgoing
/// connections of every other test get their source ports: a port the kernel hands out for
/// `bind(0)` can be taken by such a connection before the binary binds it, and the binary then
/// fails to start. A random port in 20000–25999 that binds now, never handed out before in
/// this run (a harness's port stays free between its stop and the end of its test, and
/// another test must not take it), is taken by nothing else: `redis-server`s of the tests draw
/// from 26000–31999 (``RedisServerProcess``), where a restart leaves its port free for a moment.
func freePort() throws -> Int {
    for _ in 0..<256 {
        let candidate = Int.random(in: 20_000..<26_000)
        guard handedOut.withLock({ $0.insert(candidate).inserted }) else { continue }
        if bindable(candidate) { return candidate }
    }
    return boundPort(0)
}

private let handedOut = Mutex<Set<Int>>([])

private func bindable(_ port: Int) -> Bool {
    boundPort(port) == port
}

/// Binds 127.0.0.1:`port` (0: any), reads the port back, closes; 0 when the bind failed.
private func boundPort(_ port: Int) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { return 0 }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
