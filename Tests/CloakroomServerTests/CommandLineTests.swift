import CloakroomConfig
import Foundation
import Testing

/// The `cloakroom` binary itself: `check`, `version`, and `serve` with SIGTERM.
@Suite(.serialized) struct CommandLineTests {
    static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/cloakroom").path

    struct Run { var status: Int32; var output: String; var errors: String }

    static func run(
        _ arguments: [String], environment: [String: String] = [:], unsetting unset: [String] = [], input: String? = nil,
        executable: String = binary, killAfter: Double? = nil, in directory: String? = nil
    ) async throws -> Run {
        try await offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !unset.contains($0.key) }
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let stdin = Pipe()
            process.standardInput = stdin
            try process.run()
            if let killAfter {  // a command that might hang: SIGKILL (status 9) rather than wait forever
                nonisolated(unsafe) let running = process
                DispatchQueue.global().asyncAfter(deadline: .now() + killAfter) {
                    if running.isRunning { kill(running.processIdentifier, SIGKILL) }
                }
            }
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try? stdin.fileHandleForWriting.close()
            let output = out.fileHandleForReading.readDataToEndOfFile()
            let errors = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Run(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self), errors: String(decoding: errors, as: UTF8.self))
        }
    }

    /// Starts `cloakroom serve --config path` (output discarded) and waits, up to 10 s, until
    /// a request to `port` is answered 200.
    static func startServe(_ path: String, readyAt port: Int) async throws -> (process: Process, up: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", path]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var up = false
        for _ in 0..<100 where !up {
            try await Task.sleep(for: .milliseconds(100))
            up = (try? await Curl.get("http://127.0.0.1:\(port)/ready", ["--max-time", "1"]).status) == 200
        }
        return (process, up)
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

    /// Handles are base64url, so one in 32 starts with '-': `--session` takes it as its value
    /// (it was a usage error, "Missing value for '--session'"). Nothing listens at the admin
    /// URL, so the command gets as far as connecting and fails there.
    @Test func aHandleStartingWithADashIsTheSessionOption() async throws {
        let run = try await Self.run(
            ["sessions", "revoke", "--session", "-Qm3xT0pL9aW2vC8", "--admin", "http://127.0.0.1:9", "--token", "t"])
        #expect(run.status == 1, "\(run.output)\(run.errors)")
        #expect(!run.errors.contains("Missing value"), "\(run.errors)")
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

    /// Everything serve would trip on, in one run of check: a file-store directory that does not
    /// exist, a users file that does not, a key that does not match its certificate, beside an
    /// ordinary mistake. Each a sentence with its key path, never an error's raw enum name.
    @Test func checkReportsWhatServeWouldTripOnInOnePass() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-nowhere-\(UUID().uuidString)").path
        let path = try Self.writeConfig("""
            listen:
              - address: "127.0.0.1:0"
                tls: { certificate: "\(certificates.certificate)", private_key: "\(certificates.otherKey)" }
            client:
              header_timout: 10s
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
              store: { file: { path: "\(missing)/sessions.db" } }
            login:
              users_file: "\(missing)/users.yaml"
            routes: [{ path: /, upstream: echo }]
            upstreams: { echo: { builtin: echo } }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await Self.run(["check", "--config", path])
        #expect(run.status == 1)
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(run.output)")
        #expect(lines.contains("client.header_timout: unknown key (did you mean \"header_timeout\"?)"), "\(run.output)")
        #expect(
            lines.contains(
                "session.store.file.path: directory \"\(missing)\" does not exist: create it first (serve creates the database file in it, not the directory)"),
            "\(run.output)")
        #expect(lines.contains("login.users_file: file \"\(missing)/users.yaml\" does not exist"), "\(run.output)")
        #expect(
            lines.contains(
                "listen[0].tls.private_key: the key in \"\(certificates.otherKey)\" does not match the certificate in \"\(certificates.certificate)\""),
            "\(run.output)")
        #expect(run.output.range(of: #"\([a-z]+[A-Z][A-Za-z]*\)"#, options: .regularExpression) == nil, "no raw enum names: \(run.output)")

        // serve refuses the same file, naming the same problems (found by an audit: it left out
        // the key that does not match its certificate, which only the server checks).
        let serve = try await Self.run(["serve", "--config", path])
        #expect(serve.status == 1)
        let refused = serve.errors.split(separator: "\n").map(String.init)
        #expect(refused.first == "\(path): invalid configuration", "\(serve.errors)")
        #expect(Array(refused.dropFirst()) == lines.map { "  " + $0 }, "\(serve.errors)")
    }

    /// The directory is checked with the permissions of the user that runs check: as root,
    /// that user is nobody (setpriv), for whom a root-owned 0755 directory is not writable.
    @Test func checkFindsAStoreDirectoryTheUserCannotWrite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let asRoot = getuid() == 0
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
        let path = directory.appendingPathComponent("proxy.yaml").path
        try """
            listen: [{ address: "127.0.0.1:0" }]
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
              store: { file: { path: "\(directory.path)/sessions.db" } }
            routes: [{ path: /, upstream: echo }]
            upstreams: { echo: { builtin: echo } }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        if !asRoot { try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path) }
        let arguments = ["check", "--config", path]
        let run: Run
        if asRoot {
            try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) runs check as nobody")
            run = try await Self.run(["--reuid=65534", "--regid=65534", "--clear-groups", Self.binary] + arguments, executable: "/usr/bin/setpriv")
        } else {
            run = try await Self.run(arguments)
        }
        #expect(run.status == 1, "\(run.output)\(run.errors)")
        #expect(run.output.hasPrefix("session.store.file.path: directory \"\(directory.path)\" is not writable by this user"), "\(run.output)")
        // The same file is valid for a user who may write there.
        if asRoot { #expect(try await Self.run(arguments).status == 0) }
    }

    @Test func anUnreachableAdminAPIIsExplainedInWords() async throws {
        let address = "http://127.0.0.1:\(try freePort())"
        let run = try await Self.run(["sessions", "list", "--admin", address, "--token", String(repeating: "t", count: 32)])
        #expect(run.status == 1)
        #expect(run.errors == "admin API unreachable at \(address): connection refused\n", "\(run.errors)")
    }

    @Test(arguments: [("bash", "-F _cloakroom cloakroom"), ("zsh", "#compdef cloakroom"), ("fish", "complete -c 'cloakroom'")])
    func completionScripts(shell: String, marker: String) async throws {
        let run = try await Self.run(["--generate-completion-script", shell])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains(marker), "\(run.output.prefix(300))")
        for command in ["serve", "check", "sessions", "users", "revoke", "config", "users-file"] {
            #expect(run.output.contains(command), "\(shell) completes \(command)")
        }
    }

    @Test func usageErrorsExit2() async throws {
        #expect(try await Self.run(["check", "--no-such-flag"]).status == 2)
    }

    /// Every listener's requests are drained on SIGTERM, not only the first listener's (found by
    /// an audit: swift-nio-extras' quiescing helper followed one server channel, and the
    /// second listener's in-flight requests got 502 at once).
    @Test func serveDrainsEveryListenersRequestsOnSIGTERM() async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        let first = try freePort(), second = try freePort()
        let path = try Self.writeConfig("""
            listen:
              - address: "127.0.0.1:\(first)"
              - address: "127.0.0.1:\(second)"
            routes: [{ path: /, upstream: api, auth: none }]
            upstreams: { api: { targets: ["http://127.0.0.1:\(backend.port)"] } }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, up) = try await Self.startServe(path, readyAt: second)
        #expect(up)
        async let plain = Curl.get("http://127.0.0.1:\(second)/delay?ms=2000")
        async let h2 = Curl.get("http://127.0.0.1:\(second)/delay?ms=2000", ["--http2-prior-knowledge"])
        for _ in 0..<100 where backend.requests.filter({ $0.uri.hasPrefix("/delay") }).count < 2 {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGTERM)
        let (plainResponse, h2Response) = try await (plain, h2)
        #expect(plainResponse.status == 200 && plainResponse.body == "{\"delayed\":true}", "HTTP/1.1 on the second listener")
        #expect(h2Response.status == 200 && h2Response.body == "{\"delayed\":true}", "h2c on the second listener")
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
    }

    /// An admin listener that cannot bind is named by its key and address, as a public one is
    /// (found by an audit: a bare `bind(descriptor:ptr:bytes:)` error).
    @Test func anAdminListenerThatCannotBindIsNamed() async throws {
        let holder = try await TestBackend.start()  // holds the port the admin listener wants
        defer { Task { await holder.stop() } }
        let port = try freePort()
        let path = try Self.writeConfig("""
            listen:
              - address: "127.0.0.1:\(port)"
            routes: [{ path: /, upstream: api, auth: none }]
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            admin: { listen: "127.0.0.1:\(holder.port)", token: "\(String(repeating: "t", count: 32))" }
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await Self.run(["serve", "--config", path], killAfter: 10)
        #expect(run.status == 1, "\(run.errors)")
        #expect(run.errors.contains("admin.listen: cannot listen on 127.0.0.1:\(holder.port): Address already in use (errno 98)"), "\(run.errors)")
    }

    /// An environment switch with a value it does not take stops `serve` with every problem
    /// named (found by an audit: `CLOAKROOM_AUDIT_LOG=OFF` left the log on without a word).
    @Test func serveRefusesEnvironmentSwitchesItDoesNotUnderstand() async throws {
        let port = try freePort()
        let path = try Self.writeOpenProxyConfig(port: port, backendPort: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bad = try await Self.run(
            ["serve", "--config", path],
            environment: [
                "CLOAKROOM_LOG_LEVEL": "bogus", "CLOAKROOM_AUDIT_LOG": "false", "CLOAKROOM_ACCESS_LOG": "of",
                "CLOAKROOM_EVENT_LOOPS": "abc",
            ], killAfter: 10)
        #expect(bad.status == 1, "\(bad.errors)")
        for name in ["CLOAKROOM_LOG_LEVEL", "CLOAKROOM_AUDIT_LOG", "CLOAKROOM_ACCESS_LOG", "CLOAKROOM_EVENT_LOOPS"] {
            #expect(bad.errors.contains("\(name): expected"), "\(name): \(bad.errors)")
        }
        // Levels and off/on in any case; an empty value is unset.
        let good = try await Self.run(
            ["serve", "--config", path],
            environment: ["CLOAKROOM_AUDIT_LOG": "OFF", "CLOAKROOM_LOG_LEVEL": "Info", "CLOAKROOM_EVENT_LOOPS": ""], killAfter: 3)
        #expect(!good.errors.contains("expected"), "\(good.errors)")
        #expect(good.errors.contains("listening"), "\(good.errors)")
    }

    /// A command group without its subcommand names nothing to do: a usage error (exit 2) with
    /// the group's help on standard error. Asking for the help is not an error.
    @Test(arguments: [(["sessions"], "list"), (["keys"], "create"), (["users"], "add"), ([], "serve")])
    func aGroupWithoutItsSubcommandIsAUsageError(_ arguments: [String], subcommand: String) async throws {
        let run = try await Self.run(arguments)
        #expect(run.status == 2, "\(run.output)\(run.errors)")
        #expect(run.output.isEmpty, "\(run.output)")
        #expect(run.errors.contains("USAGE: cloakroom \(arguments.first.map { $0 + " " } ?? "")<subcommand>"), "\(run.errors)")
        #expect(run.errors.contains(subcommand), "\(run.errors)")
        let help = try await Self.run(arguments + ["--help"])
        #expect(help.status == 0, "\(help.errors)")
        #expect(help.output.contains("USAGE: cloakroom"), "\(help.output)")
    }

    /// HTTP/1.1, and HTTP/2 (h2c), whose stream in flight gets its response after the GOAWAY
    /// (it used to be cut when the upstream answered: found by an audit).
    @Test(arguments: [[], ["--http2-prior-knowledge"]])
    func serveDrainsInFlightRequestsOnSIGTERMAndExits0(_ curlOptions: [String]) async throws {
        let backend = try await TestBackend.start()
        defer { Task { await backend.stop() } }
        let port = try freePort()
        let path = try Self.writeOpenProxyConfig(port: port, backendPort: backend.port)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, up) = try await Self.startServe(path, readyAt: port)
        #expect(up)
        async let inFlight = Curl.get("http://127.0.0.1:\(port)/delay", curlOptions)
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

    /// Without `--users-file`, the configuration's `login.users_file` — also when the file does
    /// not exist yet, and when another key names an unset variable only `serve` needs; a
    /// configuration that cannot say where stops the command (exit 1) instead of letting it
    /// write `./users.yaml` (each of these used to write there, in the working directory).
    /// Ctrl-C at the password prompt (echo off) ends the command with 130 and gives the
    /// terminal its echo back, as the shell had it.
    @Test func anInterruptedPasswordPromptLeavesTheTerminalEchoing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/terminal/interrupt-prompt.py").path
        let users = directory.appendingPathComponent("users.yaml").path
        let run = try await Self.run([script, Self.binary, users], executable: "/usr/bin/python3", killAfter: 30)
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "echo_off_at_prompt=True echo_after=True status=130", "\(run.output) \(run.errors)")
        #expect(!FileManager.default.fileExists(atPath: users), "nothing written")
    }

    @Test func usersAddFindsTheConfiguredFileOrStops() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let users = directory.appendingPathComponent("users.yaml").path
        let config = directory.appendingPathComponent("proxy.yaml").path
        try """
            session: { secrets: ["${UNSET_SESSION_SECRET}"] }
            login: { users_file: "${USERS_DIR}/users.yaml" }
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { targets: ["http://127.0.0.1:9"] } }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let add = try await Self.run(
            ["users", "add", "grace", "--config", config], environment: ["USERS_DIR": directory.path], unsetting: ["UNSET_SESSION_SECRET"],
            input: "s3cret-passw0rd\n")
        #expect(add.status == 0, "\(add.errors)")
        #expect(add.output.contains(users), "\(add.output)")
        #expect(try String(contentsOfFile: users, encoding: .utf8).contains("grace"))

        let unset = try await Self.run(
            ["users", "add", "grace", "--config", config], unsetting: ["USERS_DIR", "UNSET_SESSION_SECRET"], input: "s3cret-passw0rd\n")
        #expect(unset.status == 1)
        #expect(unset.errors.contains("login.users_file") && unset.errors.contains("USERS_DIR"), "\(unset.errors)")
        #expect(!unset.output.contains("saved"), "nothing written anywhere: \(unset.output)")

        // A configuration without login.users_file: the user is saved, and the operator told
        // the proxy will not read it (found by an audit).
        let bare = directory.appendingPathComponent("bare.yaml").path
        try "routes: [{ path: /, upstream: api }]\nupstreams: { api: { targets: [\"http://127.0.0.1:9\"] } }\n"
            .write(toFile: bare, atomically: true, encoding: .utf8)
        let elsewhere = directory.appendingPathComponent("elsewhere.yaml").path
        let noted = try await Self.run(
            ["users", "add", "hal", "--config", bare, "--users-file", elsewhere], input: "s3cret-passw0rd\n")
        #expect(noted.status == 0 && !noted.errors.contains("note:"), "an explicit --users-file is the operator's choice: \(noted.errors)")
        let implicit = try await Self.run(["users", "add", "ivy", "--config", bare], input: "s3cret-passw0rd\n", in: directory.path)
        #expect(implicit.errors.contains("has no login.users_file"), "\(implicit.errors)")
        #expect(try String(contentsOfFile: users, encoding: .utf8).contains("ivy"), "./users.yaml, in the directory it ran in")
    }
}
