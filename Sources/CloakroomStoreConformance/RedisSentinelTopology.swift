import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway Redis Sentinel deployment for tests, on loopback: a primary, its replicas and
/// several sentinels, each a real `redis-server` / `redis-sentinel` process on a free port with
/// a directory of its own, all stopped (SIGKILL) by ``stop()``.
///
///     try await RedisSentinelTopology.with { topology in
///         await topology.kill(node: 0)   // the primary, as a crash would
///     }
///
/// Sentinels use a short `down-after-milliseconds`, so a failover completes within about two
/// seconds of the primary's death. ``start(_:)`` returns only once every sentinel knows every
/// replica and every other sentinel: before that, a sentinel could not fail over. Needs
/// `redis-server`, `redis-sentinel` and `redis-cli` on `PATH` (Debian packages `redis-server`,
/// `redis-sentinel`).
public final class RedisSentinelTopology: Sendable {
    public struct Options: Sendable {
        public var masterName = "mymaster"
        public var replicas = 1
        public var sentinels = 3
        public var downAfterMilliseconds = 500
        public var failoverTimeoutMilliseconds = 3000
        /// The data servers' password: `requirepass`, or the ACL user's with ``dataUser``.
        public var dataPassword: String?
        /// An ACL user on the data servers (the `default` user is then disabled).
        public var dataUser: String?
        /// The sentinels' own password: `requirepass`, or the ACL user's with ``sentinelUser``.
        public var sentinelPassword: String?
        public var sentinelUser: String?
        /// TLS only, everywhere: clients, replication, sentinels.
        public var tls: RedisServerProcess.TLSFiles?

        public init() {}
    }

    /// A `+switch-master` a sentinel published, as the test saw it.
    public struct Switch: Sendable {
        public var at: ContinuousClock.Instant
        public var sentinelPort: Int
        public var toPort: Int
    }

    public let options: Options
    /// The data servers' ports; the first started as the primary.
    public let nodePorts: [Int]
    public let sentinelPorts: [Int]
    public let directory: URL
    private let processes = Mutex<[Int: Process]>([:])
    private let watchers = Mutex<[Process]>([])
    private let switches = Mutex<[Switch]>([])

    private init(options: Options, nodePorts: [Int], sentinelPorts: [Int], directory: URL) {
        self.options = options
        self.nodePorts = nodePorts
        self.sentinelPorts = sentinelPorts
        self.directory = directory
    }

    /// The sentinels as `host:port`, for a configuration.
    public var sentinelAddresses: [String] { sentinelPorts.map { "127.0.0.1:\($0)" } }

    /// Starts the data servers, waits for the replicas to sync, starts the sentinels and waits
    /// until they know each other and every replica (a few seconds: sentinels meet through
    /// hello messages every two seconds).
    ///
    /// A port found free can be taken before a server binds it (by another test's connection):
    /// a topology that fails to start is stopped and started again on other ports, three times.
    public static func start(_ options: Options = Options()) async throws -> RedisSentinelTopology {
        var lastError: (any Error)?
        for _ in 0..<3 {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-sentinel-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let ports = try freePorts(1 + options.replicas + options.sentinels)
            let topology = RedisSentinelTopology(
                options: options, nodePorts: Array(ports.prefix(1 + options.replicas)),
                sentinelPorts: Array(ports.suffix(options.sentinels)), directory: directory)
            do {
                try await topology.launchNode(0, replicaOf: nil)
                for index in 1..<topology.nodePorts.count {
                    try await topology.launchNode(index, replicaOf: topology.nodePorts[0])
                }
                for index in 1..<topology.nodePorts.count { try await topology.waitForLink(node: index) }
            if topology.nodePorts.count > 1 { try await topology.waitForStreaming(primary: topology.nodePorts[0]) }
                for index in topology.sentinelPorts.indices { try topology.launchSentinel(index) }
                try await topology.waitUntilSentinelsAgree(primary: topology.nodePorts[0], replicas: options.replicas)
                try topology.watchSwitches()
                return topology
            } catch {
                await topology.stop()
                lastError = error
            }
        }
        throw lastError ?? RedisServerProcess.Failure(description: "the topology did not start")
    }

    /// Starts a topology, runs `body`, then stops it, also when `body` throws.
    public static func with<T>(_ options: Options = Options(), _ body: (RedisSentinelTopology) async throws -> T) async throws -> T {
        let topology = try await start(options)
        do {
            let result = try await body(topology)
            await topology.stop()
            return result
        } catch {
            await topology.stop()
            throw error
        }
    }

    /// Kills everything with SIGKILL and removes the directory.
    public func stop() async {
        let all = processes.withLock { processes in defer { processes = [:] }; return Array(processes.values) }
        let watching = watchers.withLock { watchers in defer { watchers = [] }; return watchers }
        for process in all + watching where process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        for process in all + watching { while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) } }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Kills data server `node` with SIGKILL, as a crash would, and waits for it to exit.
    public func kill(node: Int) async {
        guard let process = processes.withLock({ $0.removeValue(forKey: nodePorts[node]) }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// Starts data server `node` again, empty, as a replica of the server on `primaryPort`, and
    /// waits until it acknowledges what the primary writes (see ``waitForStreaming(primary:)``).
    public func restart(node: Int, replicaOf primaryPort: Int) async throws {
        try await launchNode(node, replicaOf: primaryPort)
        try await waitForLink(node: node)
        try await waitForStreaming(primary: primaryPort)
    }

    /// Waits until every replica of the server on `primary` has acknowledged a write made now.
    /// A link that is up is not enough: after a diskless sync, the primary streams to a new
    /// replica only once its first `REPLCONF ACK` arrives, up to a second later, and a `WAIT`
    /// meanwhile times out.
    public func waitForStreaming(primary: Int) async throws {
        try await cli(port: primary, ["SET", "topology:probe", "\(UUID().uuidString)"])
        // The offset right after the probe: later writes (a test's load) may keep the primary's
        // own offset always a little ahead of what the replicas acknowledged.
        let probe = Self.replication(try await cli(port: primary, ["INFO", "replication"])).primary
        let deadline = ContinuousClock.now + .seconds(10)
        var info: [String] = []
        while ContinuousClock.now < deadline {
            info = (try? await cli(port: primary, ["INFO", "replication"])) ?? []
            let replicas = Self.replication(info).replicas
            if probe > 0, !replicas.isEmpty, replicas.allSatisfy({ $0 >= probe }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisServerProcess.Failure(description: "the replicas of \(primary) did not acknowledge a write within 10 s: \(info.joined(separator: " "))")
    }

    /// The primary's replication offset and each replica's acknowledged one, from `INFO replication`.
    private static func replication(_ info: [String]) -> (primary: Int, replicas: [Int]) {
        let primary = info.first { $0.hasPrefix("master_repl_offset:") }.flatMap { Int($0.dropFirst("master_repl_offset:".count)) } ?? 0
        let replicas = info.filter { $0.hasPrefix("slave") }.compactMap { line -> Int? in
            guard let offset = line.range(of: ",offset=") else { return nil }
            return Int(line[offset.upperBound...].prefix { $0.isNumber })
        }
        return (primary, replicas)
    }

    /// The primary's port as sentinel `sentinel` names it now.
    public func primaryPort(askingSentinel sentinel: Int = 0) async throws -> Int {
        let lines = try await cli(port: sentinelPorts[sentinel], sentinel: true, ["SENTINEL", "get-master-addr-by-name", options.masterName])
        guard lines.count == 2, let port = Int(lines[1]) else { throw RedisServerProcess.Failure(description: "no primary: \(lines)") }
        return port
    }

    /// Every `+switch-master` announced since ``start(_:)``, in the order seen.
    public var switchesSeen: [Switch] { switches.withLock { $0 } }

    /// The first `+switch-master` to `port` any sentinel announced, waiting up to `limit`.
    public func firstSwitch(to port: Int, within limit: Duration) async -> Switch? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let found = switchesSeen.first(where: { $0.toPort == port }) { return found }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return switchesSeen.first { $0.toPort == port }
    }

    /// Runs `redis-cli` against a data server or a sentinel with the topology's login and TLS;
    /// returns the output's lines.
    @discardableResult
    public func cli(port: Int, sentinel: Bool = false, _ command: [String]) async throws -> [String] {
        let (status, output) = try await Self.run(try Self.executable("redis-cli"), connection(port: port, sentinel: sentinel) + command)
        guard status == 0 else { throw RedisServerProcess.Failure(description: "redis-cli \(command) exited \(status): \(output)") }
        // INFO ends its lines with CRLF, a single Character to Swift: split on any newline.
        return output.split(whereSeparator: \.isNewline).map(String.init)
    }

    // MARK: Launching

    private func connection(port: Int, sentinel: Bool) -> [String] {
        var arguments = ["-h", "127.0.0.1", "-p", "\(port)", "--no-auth-warning"]
        if let tls = options.tls { arguments += ["--tls", "--cacert", tls.caCertificate] }
        let user = sentinel ? options.sentinelUser : options.dataUser
        if let password = sentinel ? options.sentinelPassword : options.dataPassword {
            arguments += user.map { ["--user", $0, "--pass", password] } ?? ["-a", password]
        }
        return arguments
    }

    private func listening(_ port: Int) -> [String] {
        guard let tls = options.tls else { return ["port \(port)"] }
        return [
            "port 0", "tls-port \(port)", "tls-cert-file \(tls.certificate)", "tls-key-file \(tls.privateKey)",
            "tls-ca-cert-file \(tls.caCertificate)", "tls-auth-clients no", "tls-replication yes",
        ]
    }

    /// The last lines of a data server's log, for failure messages.
    private func logTail(of port: Int) -> String {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        guard let folder = folders.sorted().last(where: { $0.hasPrefix("node-\(port)-") }) else { return "no log" }
        let log = (try? String(contentsOf: directory.appendingPathComponent(folder).appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").suffix(4).joined(separator: " | ")
    }

    private func launchNode(_ index: Int, replicaOf primary: Int?) async throws {
        let port = nodePorts[index]
        // Named so that a later folder of the same port sorts after (see logTail(of:)).
        let folder = directory.appendingPathComponent("node-\(port)-\(Date().timeIntervalSince1970)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var lines = listening(port) + [
            "bind 127.0.0.1", "save \"\"", "appendonly no", "dir \(folder.path)", "logfile redis.log",
            "repl-diskless-sync yes", "repl-diskless-sync-delay 0", "maxmemory-policy noeviction",
        ]
        if let password = options.dataPassword {
            if let user = options.dataUser {
                lines += ["user default off", "user \(user) on >\(password) ~* &* +@all", "masteruser \(user)", "masterauth \(password)"]
            } else {
                lines += ["requirepass \(password)", "masterauth \(password)"]
            }
        }
        if let primary { lines.append("replicaof 127.0.0.1 \(primary)") }
        let config = folder.appendingPathComponent("redis.conf")
        try (lines.joined(separator: "\n") + "\n").write(to: config, atomically: true, encoding: .utf8)
        try launch("redis-server", config: config, port: port)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let answer = try? await cli(port: port, ["PING"]), answer.first == "PONG" { return }
            guard isRunning(port) else {
                throw RedisServerProcess.Failure(description: "redis-server on \(port) exited at start: \(logTail(of: port))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisServerProcess.Failure(description: "redis-server on \(port) did not answer PING")
    }

    private func launchSentinel(_ index: Int) throws {
        let port = sentinelPorts[index]
        let folder = directory.appendingPathComponent("sentinel-\(port)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let master = options.masterName
        var lines = listening(port) + [
            "bind 127.0.0.1", "dir \(folder.path)", "logfile sentinel.log",
            "sentinel monitor \(master) 127.0.0.1 \(nodePorts[0]) \(options.sentinels / 2 + 1)",
            "sentinel down-after-milliseconds \(master) \(options.downAfterMilliseconds)",
            "sentinel failover-timeout \(master) \(options.failoverTimeoutMilliseconds)",
            "sentinel parallel-syncs \(master) 1",
        ]
        if let password = options.dataPassword {
            if let user = options.dataUser { lines.append("sentinel auth-user \(master) \(user)") }
            lines.append("sentinel auth-pass \(master) \(password)")
        }
        if let password = options.sentinelPassword {
            if let user = options.sentinelUser {
                lines += ["user default off", "user \(user) on >\(password) ~* &* +@all", "sentinel sentinel-user \(user)"]
            } else {
                lines.append("requirepass \(password)")
            }
            lines.append("sentinel sentinel-pass \(password)")
        }
        // Sentinel rewrites its file as it learns, so each needs a writable one of its own.
        let config = folder.appendingPathComponent("sentinel.conf")
        try (lines.joined(separator: "\n") + "\n").write(to: config, atomically: true, encoding: .utf8)
        try launch("redis-sentinel", config: config, port: port)
    }

    private func launch(_ program: String, config: URL, port: Int) throws {
        let process = Process()
        process.executableURL = try Self.executable(program)
        process.arguments = [config.path]
        process.currentDirectoryURL = config.deletingLastPathComponent()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes.withLock { $0[port] = process }
    }

    private func waitForLink(node: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let info = (try? await cli(port: nodePorts[node], ["INFO", "replication"])) ?? []
            if info.contains(where: { $0.hasPrefix("master_link_status:up") }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisServerProcess.Failure(description: "replica on \(nodePorts[node]) never linked to its primary: \(logTail(of: nodePorts[node]))")
    }

    private func isRunning(_ port: Int) -> Bool {
        processes.withLock { $0[port]?.isRunning ?? false }
    }

    private func waitUntilSentinelsAgree(primary: Int, replicas: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let exited = sentinelPorts.first(where: { !isRunning($0) }) {
                throw RedisServerProcess.Failure(description: "redis-sentinel on \(exited) exited at start")
            }
            var ready = true
            for port in sentinelPorts {
                let lines = (try? await cli(port: port, sentinel: true, ["SENTINEL", "master", options.masterName])) ?? []
                var fields: [String: String] = [:]
                for pair in stride(from: 0, to: lines.count - 1, by: 2) { fields[lines[pair]] = lines[pair + 1] }
                if fields["port"] != "\(primary)" || Int(fields["num-slaves"] ?? "") ?? 0 < replicas
                    || Int(fields["num-other-sentinels"] ?? "") ?? 0 < sentinelPorts.count - 1
                {
                    ready = false
                }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisServerProcess.Failure(description: "the sentinels did not agree on the topology within 20 s")
    }

    /// One `redis-cli SUBSCRIBE +switch-master` per sentinel, its lines read on a thread of its
    /// own, each announcement recorded with the time it arrived.
    private func watchSwitches() throws {
        for port in sentinelPorts {
            let process = Process()
            process.executableURL = try Self.executable("redis-cli")
            process.arguments = connection(port: port, sentinel: true) + ["SUBSCRIBE", "+switch-master"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            watchers.withLock { $0.append(process) }
            let master = options.masterName
            Thread.detachNewThread { [self] in
                var pending = ""
                while true {
                    let data = pipe.fileHandleForReading.availableData
                    if data.isEmpty { return }
                    pending += String(decoding: data, as: UTF8.self)
                    while let newline = pending.firstIndex(of: "\n") {
                        let line = pending[..<newline]
                        pending = String(pending[pending.index(after: newline)...])
                        let words = line.split(separator: " ")
                        if words.count == 5, words[0] == master, let to = Int(words[4]) {
                            switches.withLock { $0.append(Switch(at: .now, sentinelPort: port, toPort: to)) }
                        }
                    }
                }
            }
        }
    }
}
