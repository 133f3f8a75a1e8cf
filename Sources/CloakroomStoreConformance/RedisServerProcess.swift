import Foundation
import Synchronization

/// A throwaway `redis-server` for tests: its own port and temporary directory, started, stopped
/// and restarted on demand. Foundation `Process` only, so the store's tests and the server's
/// end-to-end tests can both use it.
///
///     try await RedisServerProcess.with { redis in
///         let store = try RedisSessionStore(settings: .init(url: redis.url), ...)
///     }
///
/// The server listens on 127.0.0.1 only, persists nothing unless asked (`appendOnly`), logs to
/// `redis.log` in its directory, and is found on `PATH` (Debian: `apt-get install
/// redis-server`, which brings `redis-cli` too). A port is drawn at random from 26000–31999
/// (below the kernel's ephemeral range, apart from the ports the proxy's tests pick) and
/// another is tried if that one is taken.
///
/// - Important: Stop what you start (``with(appendOnly:tls:arguments:_:)`` does): a server left
///   running outlives the test process.
public final class RedisServerProcess: Sendable {
    /// Certificate files for a TLS-only server (`--tls-port`, no plain port).
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var privateKey: String
        public var caCertificate: String

        public init(certificate: String, privateKey: String, caCertificate: String) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.caCertificate = caCertificate
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let port: Int
    public let directory: URL
    public let appendOnly: Bool
    public let tls: TLSFiles?
    public let arguments: [String]
    private let process = Mutex<Process?>(nil)

    /// `redis://127.0.0.1:<port>/0`, or `rediss://localhost:<port>/0` with TLS.
    public var url: String {
        tls == nil ? "redis://127.0.0.1:\(port)/0" : "rediss://localhost:\(port)/0"
    }

    private init(port: Int, directory: URL, appendOnly: Bool, tls: TLSFiles?, arguments: [String]) {
        self.port = port
        self.directory = directory
        self.appendOnly = appendOnly
        self.tls = tls
        self.arguments = arguments
    }

    /// Starts a server in a new temporary directory and waits until it answers `PING`.
    /// `arguments` are more `redis-server` options, such as `["--user", "alice", "on", ">pw", "~*", "+@all"]`.
    public static func start(appendOnly: Bool = false, tls: TLSFiles? = nil, arguments: [String] = []) async throws -> RedisServerProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-redis-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<8 {
            let server = RedisServerProcess(
                port: Int.random(in: 26_000..<32_000), directory: directory, appendOnly: appendOnly, tls: tls, arguments: arguments
            )
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError ?? Failure(description: "redis-server did not start")
    }

    /// Starts a server, runs `body`, then stops it and removes its directory, also when `body` throws.
    public static func with<T>(
        appendOnly: Bool = false, tls: TLSFiles? = nil, arguments: [String] = [],
        _ body: (RedisServerProcess) async throws -> T
    ) async throws -> T {
        let server = try await start(appendOnly: appendOnly, tls: tls, arguments: arguments)
        do {
            let result = try await body(server)
            await server.stop()
            server.removeDirectory()
            return result
        } catch {
            await server.stop()
            server.removeDirectory()
            throw error
        }
    }

    /// Stops the server with `SHUTDOWN` (it writes out its append-only file first) and waits
    /// for it to exit; kills it if that does not work within five seconds. Does nothing when it
    /// is not running.
    ///
    /// Not SIGTERM: a child of a Swift test process inherits a signal mask that blocks it.
    public func stop() async {
        guard isRunning else { return }
        let answer = (try? await Self.run(Self.executable("redis-cli"), cliConnection + ["SHUTDOWN"]).1) ?? "ERR"
        // Refused (a server that wants a password): no point waiting.
        let refused = ["ERR", "NOAUTH", "NOPERM", "WRONGPASS"].contains { answer.contains($0) }
        let deadline = ContinuousClock.now + (refused ? .zero : .seconds(5))
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        await terminate(signal: SIGKILL)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to exit. With
    /// `appendOnly` (which syncs every write) nothing acknowledged is lost.
    public func kill() async {
        await terminate(signal: SIGKILL)
    }

    /// Starts the server again on the same port and directory (and so the same data, with
    /// `appendOnly`).
    public func restart() async throws {
        await stop()
        try await launch()
    }

    public var isRunning: Bool {
        process.withLock { $0?.isRunning ?? false }
    }

    /// Deletes the server's directory; call after ``stop()``.
    public func removeDirectory() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `redis-cli` against the server and returns its output with the trailing newline
    /// removed. `options` go before the command (`["-n", "1"]`, `["--user", "u", "--pass", "p"]`).
    @discardableResult
    public func cli(_ command: [String], options: [String] = []) async throws -> String {
        let (status, output) = try await Self.run(Self.executable("redis-cli"), cliConnection + options + command)
        guard status == 0 else {
            throw Failure(description: "redis-cli \(command.joined(separator: " ")) exited with \(status): \(output)")
        }
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    // MARK: Internals

    private var cliConnection: [String] {
        var connection = ["-h", "127.0.0.1", "-p", "\(port)", "--no-auth-warning"]
        if let tls { connection += ["--tls", "--cacert", tls.caCertificate] }
        return connection
    }

    /// `PING`'s answer, whatever it is, for the start-up wait.
    private func probe() async throws -> String {
        try await Self.run(Self.executable("redis-cli"), cliConnection + ["PING"]).1
    }

    private func launch() async throws {
        var options = [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always",
            "--dir", directory.path, "--logfile", "redis.log", "--daemonize", "no",
        ]
        if let tls {
            options += [
                "--port", "0", "--tls-port", "\(port)", "--tls-cert-file", tls.certificate, "--tls-key-file", tls.privateKey,
                "--tls-ca-cert-file", tls.caCertificate, "--tls-auth-clients", "no",
            ]
        } else {
            options += ["--port", "\(port)"]
        }
        // Another server on the port answers PING too, while this one fails to bind and exits
        // (seen in a full run): it is up only once its own log says so.
        let readyBefore = readyLines()
        let process = Process()
        process.executableURL = try Self.executable("redis-server")
        process.arguments = options + arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process.withLock { $0 = process }

        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                self.process.withLock { $0 = nil }
                throw Failure(description: "redis-server exited at start: \(logTail())")
            }
            // A server that requires a password answers NOAUTH: it is up all the same.
            if readyLines() > readyBefore, let answer = try? await probe(), answer.contains("PONG") || answer.contains("NOAUTH") {
                guard process.isRunning else { continue }  // the answer was another server's
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await terminate(signal: SIGKILL)
        throw Failure(description: "redis-server did not answer PING within 10 s: \(logTail())")
    }

    /// Stops the server without ending it (`SIGSTOP`), as a long fork or a stalled host does:
    /// connections stay open, nothing is read. ``resume()`` lets it go on.
    public func pause() {
        if let process = self.process.withLock({ $0 }), process.isRunning { Foundation.kill(process.processIdentifier, SIGSTOP) }
    }

    public func resume() {
        if let process = self.process.withLock({ $0 }), process.isRunning { Foundation.kill(process.processIdentifier, SIGCONT) }
    }

    private func terminate(signal: Int32) async {
        guard let process = self.process.withLock({ $0 }) else { return }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, signal)
        }
        // Process offers no async wait; poll, briefly.
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
        self.process.withLock { $0 = nil }
    }

    /// How many times this server's log says it is ready: once per start in its directory.
    private func readyLines() -> Int {
        let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        return log.components(separatedBy: "Ready to accept connections").count - 1
    }

    private func logTail() -> String {
        let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").suffix(5).joined(separator: " | ")
    }

    private static func executable(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Failure(description: "\(name) not found on PATH (apt-get install redis-server)")
    }

    /// Runs a short command, reading its output off the cooperative pool (RedisSentinelTopology
    /// uses it too).
    static func run(_ executable: URL, _ arguments: [String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output: Data = await withCheckedContinuation { done in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                done.resume(returning: data)
            }
        }
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
