import CloakroomConfig
import Foundation
import Testing

/// The `cloakroom` binary itself: `check`, `version`, and `serve` with SIGTERM.
@Suite(.serialized) struct CommandLineTests {
    static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/cloakroom").path

    struct Run { var status: Int32; var output: String; var errors: String }

    static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) async throws -> Run {
        try await offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let stdin = Pipe()
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try? stdin.fileHandleForWriting.close()
            let output = out.fileHandleForReading.readDataToEndOfFile()
            let errors = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Run(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self), errors: String(decoding: errors, as: UTF8.self))
        }
    }

    static func writeConfig(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A config with every path open (`auth: none`) in front of `backendPort`.
    static func writeOpenProxyConfig(port: Int, backendPort: Int) throws -> String {
        try writeConfig("""
            listen:
              - address: "127.0.0.1:\(port)"
            routes:
              - path: /
                upstream: api
                auth: none
            upstreams:
              api:
                targets: ["http://127.0.0.1:\(backendPort)"]
            """)
    }

    @Test func checkPrintsEveryProblemWithItsKeyPathAndExits1() async throws {
        let path = try Self.writeConfig("""
            listen:
              - address: "127.0.0.1:8080"
            client:
              header_timout: 10s
              max_body_bytes: lots
            routes:
              - path: /
                upstream: apii
            upstreams:
              api:
                targets: ["http://127.0.0.1:9000"]
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await Self.run(["check", "--config", path])
        #expect(run.status == 1)
        #expect(run.output.contains("client.header_timout: unknown key"), "\(run.output)")
        #expect(run.output.contains("client.max_body_bytes:"), "\(run.output)")
        #expect(run.output.contains("routes[0].upstream: unknown upstream \"apii\""), "\(run.output)")
    }

    @Test func checkAcceptsTheShippedConfigAndFindsItThroughTheEnvironment() async throws {
        let shipped = URL(fileURLWithPath: Self.binary).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proxy.yaml").path
        let run = try await Self.run(["check"], environment: ["CLOAKROOM_CONFIG": shipped])
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(try await Self.run(["version"]).output.hasPrefix("cloakroom "))
    }

    @Test func checkReportsWhatOnlyTheServerCanTell() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let path = try Self.writeConfig("""
            listen:
              - address: "127.0.0.1:0"
                tls: { certificate: "\(certificates.certificate)", private_key: "\(certificates.otherKey)" }
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
            routes: [{ path: /, upstream: echo }]
            upstreams: { echo: { builtin: echo } }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let mismatch = try await Self.run(["check", "--config", path])
        #expect(mismatch.status == 1)
        #expect(mismatch.output.hasPrefix("listen[0].tls.private_key: the key in \"\(certificates.otherKey)\" does not match"), "\(mismatch.output)")

        let redis = try Self.writeConfig("""
            listen: [{ address: "127.0.0.1:0" }]
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
              store: { redis: { url: "redis://127.0.0.1:notaport/0" } }
            routes: [{ path: /, upstream: echo }]
            upstreams: { echo: { builtin: echo } }
            """)
        defer { try? FileManager.default.removeItem(atPath: redis) }
        let badURL = try await Self.run(["check", "--config", redis])
        #expect(badURL.status == 1)
        #expect(badURL.output.hasPrefix("session.store.redis.url: invalid Redis URL"), "\(badURL.output)")
    }

    @Test func usageErrorsExit2() async throws {
        #expect(try await Self.run(["check", "--no-such-flag"]).status == 2)
    }

    @Test func serveDrainsInFlightRequestsOnSIGTERMAndExits0() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        let port = try freePort()
        let path = try Self.writeOpenProxyConfig(port: port, backendPort: backend.port)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--config", path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        var up = false
        for _ in 0..<100 where !up {
            try await Task.sleep(for: .milliseconds(100))
            up = (try? await Curl.get("http://127.0.0.1:\(port)/ready", ["--max-time", "1"]).status) == 200
        }
        #expect(up)
        async let inFlight = Curl.get("http://127.0.0.1:\(port)/delay")
        // SIGTERM once the request is in flight (the backend has it), however loaded the machine.
        for _ in 0..<100 where !backend.requests.contains(where: { $0.uri == "/delay" }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGTERM)
        let response = try await inFlight
        #expect(response.status == 200, "the in-flight request finishes")
        #expect(response.body == "{\"delayed\":true}")
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
        #expect(process.terminationReason == .exit)
        let after = try await Curl.get("http://127.0.0.1:\(port)/ready", ["--max-time", "1"])
        #expect(after.status == 0, "no longer accepting")
    }

    /// Production runs unprivileged (systemd DynamicUser, containers). A socket option that only
    /// root may set (SO_DEBUG, once set by mistake for TCP_NODELAY) dropped every connection there.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func servesRequestsWhenRunAsAnUnprivilegedUser() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        let port = try freePort()
        let path = try Self.writeOpenProxyConfig(port: port, backendPort: backend.port)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Self.binary, "serve", "--config", path]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { kill(process.processIdentifier, SIGKILL) }
        var status = 0
        for _ in 0..<100 where status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            status = (try? await Curl.get("http://127.0.0.1:\(port)/public/x", ["--max-time", "1"]).status) ?? 0
        }
        #expect(status == 200, "served as uid 65534")
        #expect(backend.requests.last?.uri == "/public/x")
    }

    @Test func usersAddWritesAHashTheLoginAccepts() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let users = directory.appendingPathComponent("users.yaml").path
        let add = try await Self.run(
            ["users", "add", "grace", "--users-file", users, "--email", "grace@example.com", "--role", "admin"], input: "s3cret-passw0rd\n")
        #expect(add.status == 0, "\(add.errors)")
        let text = try String(contentsOfFile: users, encoding: .utf8)
        #expect(text.contains("grace") && text.contains("scrypt$") && !text.contains("s3cret-passw0rd"))
        let mode = try FileManager.default.attributesOfItem(atPath: users)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await Self.run(["users", "add", "grace", "--users-file", users], input: "short\n").status == 1, "too short")

        let proxy = try await ProxyHarness.start { configuration in
            configuration.login.usersFile = users
            configuration.routes = [Route(path: "/", upstream: "echo", auth: .required)]
        }
        defer { Task { await proxy.stop() } }
        let login = try await Curl.get("\(proxy.base)/login", ["--data", "username=grace&password=s3cret-passw0rd"])
        #expect(login.status == 303)
        let cookie = try #require(login.header("set-cookie")?.split(separator: ";").first.map(String.init))
        let echoed = try await Curl.get("\(proxy.base)/x", ["-H", "Cookie: \(cookie)"])
        #expect(echoed.body.contains("\"x-user-roles\":\"admin\""))
    }
}
