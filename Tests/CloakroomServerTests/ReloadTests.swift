import CloakroomConfig
import CloakroomServer
import Foundation
import Synchronization
import Testing

/// Hot reload (in process through ``ProxyServer/reload()``, and through the binary with SIGHUP
/// and `POST /reload`), and SIGTERM's `shutdown_timeout`.
@Suite(.serialized)
struct ReloadTests {
    /// What the next reload reads: a configuration, or an error as the loader would throw.
    final class Source: Sendable {
        let next = Mutex<Result<Configuration, ConfigurationError>?>(nil)
        func set(_ configuration: Configuration) { next.withLock { $0 = .success(configuration) } }
        /// How long each read takes: long enough, two reloads asked for at once overlap.
        let readDelay = Mutex<Duration>(.zero)
        func fail(_ problems: [ConfigurationProblem], readable: Configuration? = nil) {
            next.withLock { $0 = .failure(ConfigurationError(problems: problems, readable: readable)) }
        }
        func read(initial: Configuration) throws -> Configuration {
            let delay = readDelay.withLock { $0 }
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds)) }
            return try next.withLock { $0 }.map { try $0.get() } ?? initial
        }
    }

    static func start(_ source: Source) async throws -> ProxyHarness {
        try await ProxyHarness.start(configurationSource: { initial in { try source.read(initial: initial) } })
    }

    @Test func reloadAddsARouteWithoutDroppingAnOpenWebSocket() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try await WebSocketTests.connect(harness, cookie: cookie)
        #expect(client.status == 101)
        #expect(try await Curl.get("\(harness.base)/open/x").status == 401, "/open/ falls under the required / route")

        var changed = harness.server.configuration
        changed.routes.insert(Route(path: "/open/", upstream: "api", auth: .none), at: 0)
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)

        #expect(try await Curl.get("\(harness.base)/open/x").status == 200)
        try await offPool { try client.sendText("after reload") }
        #expect(try await offPool { try client.readFrame() }?.text == "echo:after reload", "the tunnel survived")
        #expect(try await harness.server.store.sessions(subject: "alice").count == 1, "and the session")
        #expect(try await Curl.get("\(harness.base)/api/me", ["-H", "Cookie: \(cookie)"]).status == 200)
    }

    /// A secret taken out of `session.secrets` stops validating its cookies at once, even on a
    /// keep-alive connection that presented one before the reload (the connection's memo of
    /// verified cookies belongs to the old policy).
    @Test func aRemovedSecretStopsValidatingOnAnOpenConnection() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        let cookie = try await harness.login("alice")
        let client = try KeepAliveClient(port: harness.port)
        let request = "GET /api/me HTTP/1.1\r\nHost: localhost\r\nCookie: \(cookie)\r\n\r\n"
        #expect(try await offPool { try client.send(request) }.status == 200)
        #expect(try await offPool { try client.send(request) }.status == 200, "the same cookie again, on the same connection")

        var changed = harness.server.configuration
        changed.session.secrets = ["a-new-secret-a-new-secret-a-new-secret-0123"]
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)
        #expect(try await offPool { try client.send(request) }.status == 401, "signed with a secret no longer listed")
    }

    @Test func brokenConfigurationIsRefusedAndTheOldOneKeepsServing() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        source.fail([
            ConfigurationProblem(path: "routes[0].upstream", message: "unknown upstream \"nope\""),
            ConfigurationProblem(path: "client.idle_timeout", message: "expected a duration"),
        ])
        let outcome = await harness.server.reload()
        #expect(outcome == .refused(["routes[0].upstream: unknown upstream \"nope\"", "client.idle_timeout: expected a duration"]))
        #expect(try await Curl.get("\(harness.base)/public/x").status == 200)

        var storeChanged = harness.server.configuration
        storeChanged.session.store = .file(FileStoreSettings(path: "/tmp/elsewhere.db"))
        source.set(storeChanged)
        guard case .refused(let problems) = await harness.server.reload() else {
            Issue.record("a store change must be refused")
            return
        }
        #expect(problems == ["session.store: changing the session store needs a restart"])

        // A file with problems that also changes a key a reload cannot: both are reported in
        // one answer (an audit found the store change named only once the rest was fixed).
        source.fail([ConfigurationProblem(path: "routes[0].auth", message: "expected one of none, optional, required")], readable: storeChanged)
        #expect(
            await harness.server.reload()
                == .refused(["routes[0].auth: expected one of none, optional, required", "session.store: changing the session store needs a restart"]))
        // A store section with a problem of its own holds its default there: not reported as a change.
        var storeUnread = harness.server.configuration
        storeUnread.session.store = .memory(MemoryStoreSettings(maxSessions: 5))
        source.fail([ConfigurationProblem(path: "session.store.memory.max_sessions", message: "expected an integer")], readable: storeUnread)
        #expect(await harness.server.reload() == .refused(["session.store.memory.max_sessions: expected an integer"]))
    }

    /// Two reloads asked for at once (two deploy scripts, or SIGHUP beside `POST /reload`) both
    /// reload: the second waits for the first instead of being refused as an invalid file.
    @Test func overlappingReloadsBothSucceed() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        source.set(harness.server.configuration)
        source.readDelay.withLock { $0 = .milliseconds(300) }
        async let first = harness.server.reload()
        async let second = harness.server.reload()
        async let third = harness.server.reload()
        let outcomes = await [first, second, third]
        #expect(outcomes == [.reloaded, .reloaded, .reloaded])
    }

    /// A listener a reload adds that cannot bind is named by its entry in `listen`.
    @Test func aListenerThatCannotBindIsNamedByItsEntry() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        let taken = try await TestBackend.start()  // holds the port the new listener wants
        defer { Task { await taken.stop() } }
        var changed = harness.server.configuration
        changed.listeners.append(Listener(address: SocketAddressSpec(host: "127.0.0.1", port: taken.port)))
        source.set(changed)
        #expect(
            await harness.server.reload()
                == .refused(["listen[1].address: cannot listen on 127.0.0.1:\(taken.port): Address already in use (errno 98)"]))
        #expect(try await Curl.get("\(harness.base)/public/x").status == 200, "the old configuration keeps serving")
    }

    @Test func reloadOpensNewListenersAndClosesRemovedOnes() async throws {
        let source = Source()
        let harness = try await Self.start(source)
        defer { Task { await harness.stop() } }
        let newPort = try freePort()
        var changed = harness.server.configuration
        changed.listeners = [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: newPort))]
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)

        #expect(try await Curl.get("http://127.0.0.1:\(newPort)/public/x").status == 200)
        #expect(try await Curl.get("\(harness.base)/public/x", ["--max-time", "2"]).status == 0, "the old address is closed")
        #expect(harness.server.listenerAddresses.map(\.port) == [newPort])
    }

    @Test func sighupAndAdminReloadThroughTheBinary() async throws {
        let harness = try await BinaryHarness()
        defer { Task { await harness.finish() } }
        try await harness.start()
        let original = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        let pid = try #require(harness.process?.processIdentifier)

        // A new open route, by SIGHUP.
        #expect(try await Curl.get("\(harness.base)/open/x").status == 401)
        let withRoute = original.replacingOccurrences(
            of: "routes:\n", with: "routes:\n  - path: /open/\n    upstream: api\n    auth: none\n")
        try withRoute.write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        var status = 0
        for _ in 0..<50 where status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            status = try await Curl.get("\(harness.base)/open/x").status
        }
        #expect(status == 200, "SIGHUP applied the new route")

        // A broken file, by POST /reload: 422 with every problem, old configuration kept.
        let broken = withRoute.replacingOccurrences(of: "auth: none", with: "auth: sometimes")
        try broken.write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        let refused = try await Curl.get("\(harness.admin)/reload", ["-X", "POST", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
        #expect(refused.status == 422)
        #expect(refused.body.contains("\"error\":\"invalid_configuration\""))
        #expect(refused.body.contains("routes[0].auth"), "\(refused.body)")
        #expect(try await Curl.get("\(harness.base)/open/x").status == 200)

        // SIGHUP with the broken file: logged with the key path, nothing changes.
        kill(pid, SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Curl.get("\(harness.base)/open/x").status == 200)

        try original.write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        let reloaded = try await Curl.get("\(harness.admin)/reload", ["-X", "POST", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
        #expect(reloaded.status == 200)
        #expect(reloaded.body == "{\"status\":\"reloaded\"}")
        #expect(try await Curl.get("\(harness.base)/open/x").status == 401)
        #expect(try await Curl.get("\(harness.admin)/reload", ["-X", "POST"]).status == 401, "the token is required")
    }

    @Test func sigtermClosesWhatOutlivesShutdownTimeout() async throws {
        let harness = try await BinaryHarness(extra: "shutdown_timeout: 1s")
        defer { Task { await harness.finish() } }
        try await harness.start()
        let base = harness.base
        async let stuck = offPool { try Curl.request("\(base)/public/slow", ["--max-time", "10"]) }
        try await Task.sleep(for: .milliseconds(300))
        let started = Date()
        try await harness.stop(signal: SIGTERM)
        let waited = Date().timeIntervalSince(started)
        // At shutdown_timeout (1 s); left to itself the request would hold on until curl's 10 s.
        #expect(waited >= 0.9 && waited < 7, "exited \(waited)s after SIGTERM")
        #expect(try await stuck.status == 0, "the request that never got an answer was cut")
    }
}

/// Certificates switch on reload, and SIGTERM ends open WebSockets with a close frame.
@Suite(.serialized)
struct ReloadCertificateAndShutdownTests {
    /// The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served.
    static func servedFingerprint(port: Int) async throws -> String {
        try await offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func reloadServesARenewedCertificateToNewConnections() async throws {
        let first = try await TestCertificates.make(), renewed = try await TestCertificates.make()
        defer { first.remove(); renewed.remove() }
        let source = ReloadTests.Source()
        let harness = try await ProxyHarness.start(
            adjust: { configuration in
                configuration.listeners = [
                    Listener(
                        address: SocketAddressSpec(host: "127.0.0.1", port: 0),
                        tls: TLSSettings(certificatePath: first.certificate, privateKeyPath: first.privateKey))
                ]
            },
            configurationSource: { initial in { try source.read(initial: initial) } })
        defer { Task { await harness.stop() } }
        let before = try await Self.servedFingerprint(port: harness.port)
        #expect(before.contains("Fingerprint="), "\(before)")

        var changed = harness.server.configuration
        changed.listeners[0].tls = TLSSettings(certificatePath: renewed.certificate, privateKeyPath: renewed.privateKey)
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)
        let after = try await Self.servedFingerprint(port: harness.port)
        #expect(after.contains("Fingerprint="))
        #expect(after != before, "new connections get the renewed certificate")
        #expect(try await Curl.get("https://127.0.0.1:\(harness.port)/public/x", ["-k", "--http2"]).status == 200)
    }

    @Test func sigtermEndsOpenWebSocketsWithACloseFrameAndExits0() async throws {
        let harness = try await BinaryHarness()
        defer { Task { await harness.finish() } }
        try await harness.start()
        let cookie = try await harness.login("alice")
        let port = harness.port
        let client = try await offPool { try WebSocketClient(port: port, path: "/ws", headers: ["Cookie: \(cookie)"]) }
        #expect(client.status == 101)
        let process = try #require(harness.process)
        kill(process.processIdentifier, SIGTERM)
        let frames = try await offPool { try client.framesUntilClosed(timeout: 5) }
        #expect(frames.last?.closeCode == 1001, "going away: \(frames)")
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
        harness.process = nil
    }
}
