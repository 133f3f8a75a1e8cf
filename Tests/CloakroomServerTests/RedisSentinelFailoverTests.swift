import CloakroomStoreConformance
import Foundation
import Synchronization
import Testing

/// Two `cloakroom` binaries on a real Sentinel topology (a primary, a replica and three
/// sentinels on loopback, `down-after-milliseconds 500`), with `min_replicas: 1`, under a steady
/// stream of requests, logins and revocations while the primary is killed with SIGKILL:
///
/// - every answer during the switch is 200 or 503: a live session never gets 401, a revoked one
///   never 200, and nothing reaches the backend without the identity of the session it carried;
/// - `/healthz` says 503 while there is no primary and 200 after;
/// - each instance serves again within 2 s of the first `+switch-master`, without a restart;
/// - no acknowledged login is lost and no acknowledged revocation undone;
/// - logins wait for a replica (503 until the old primary is back as one), then succeed;
/// - a WebSocket opened before the failover closes when its session is revoked after it, on the
///   other instance.
@Suite(.serialized)
struct RedisSentinelFailoverTests {
    static func instance(_ topology: RedisSentinelTopology) async throws -> BinaryHarness {
        let addresses = topology.sentinelAddresses.map { "\"\($0)\"" }.joined(separator: ", ")
        let harness = try await BinaryHarness(store: """
            redis: { sentinel: { master: \(topology.options.masterName), addresses: [\(addresses)] }, key_prefix: "failover:", \
            min_replicas: 1, connect_timeout: 500ms, command_timeout: 1s }
            """)
        try await harness.start()
        return harness
    }

    @Test func killingThePrimaryUnderLoad() async throws {
        let topology = try await RedisSentinelTopology.start()
        var instances: [BinaryHarness] = []
        do {
            instances.append(try await Self.instance(topology))
            instances.append(try await Self.instance(topology))
            try await Self.failover(topology, instances[0], instances[1])
        } catch {
            Issue.record(error)
        }
        // Awaited, not left to a task: the binaries must not outlive the test process.
        for instance in instances { await instance.finish() }
        await topology.stop()
    }

    static func failover(_ topology: RedisSentinelTopology, _ a: BinaryHarness, _ b: BinaryHarness) async throws {
        var sessions: [FailoverLoad.Session] = []
        for i in 0..<10 { sessions.append(.init(sub: "early\(i)", cookie: try await (i % 2 == 0 ? a : b).login("early\(i)"))) }
        let wsCookie = try await a.login("socket")
        let socket = try await offPool { try WebSocketClient(port: b.port, path: "/ws", headers: ["Cookie: \(wsCookie)"]) }
        #expect(socket.status == 101)

        let load = FailoverLoad(ports: [a.port, b.port], adminPorts: [a.adminPort, b.adminPort], token: BinaryHarness.token, live: sessions)
        let health = HealthPoller(url: "\(a.admin)/healthz")
        load.start()
        health.start()
        try await Task.sleep(for: .seconds(1))

        await topology.kill(node: 0)
        let killed = ContinuousClock.now
        let announced = try #require(await topology.firstSwitch(to: topology.nodePorts[1], within: .seconds(15)), "no failover")
        // Served again: a 200 on each instance for a request sent after the announcement.
        let served = await eventually(within: .seconds(5)) {
            (0..<2).allSatisfy { instance in
                load.answers.contains { $0.kind == .live && $0.instance == instance && $0.status == 200 && $0.sent > announced.at }
            }
        }
        #expect(served, "both instances served again")

        // The old primary comes back as a replica: acknowledged writes are possible again.
        try await topology.restart(node: 0, replicaOf: topology.nodePorts[1])
        let restarted = ContinuousClock.now
        let loggingIn = await eventually(within: .seconds(5)) {
            load.answers.contains { $0.kind == .login && $0.status == 200 && $0.sent > restarted }
        }
        #expect(loggingIn, "logins succeed again once a replica confirms them")
        try await Task.sleep(for: .seconds(1))
        await load.stop()
        health.stop()

        let answers = load.answers
        let afterSwitch = answers.filter { $0.sent > announced.at }
        // Several hundred on an idle machine; fewer when the machine is loaded.
        #expect(answers.count > 100, "a steady stream: \(answers.count) answers")
        #expect(load.brokenConnections == 0, "no keep-alive connection was dropped")

        // Every answer was one the state of its session allowed.
        let wrong = answers.filter { answer in
            switch answer.kind {
            case .live: answer.status != 200 && answer.status != 503
            case .revoked: answer.status != 401 && answer.status != 503
            case .login, .revoke: answer.status != 200 && answer.status != 503
            }
        }
        #expect(wrong.isEmpty, "unexpected answers: \(wrong.prefix(10).map { "\($0.kind) \($0.status)" })")
        #expect(answers.contains { $0.kind == .live && $0.status == 503 && $0.sent > killed }, "the switch was observed")
        #expect(answers.contains { $0.kind == .login && $0.status == 503 && $0.sent > killed }, "logins waited for a replica")
        #expect(answers.contains { $0.kind == .revoked } && answers.contains { $0.kind == .revoke && $0.status == 200 })

        // Nothing forwarded without the identity of the session it carried, and only 200s forwarded.
        let forwarded = (a.backend.requests + b.backend.requests).filter { $0.uri.hasPrefix("/api/me?n=") }
        let subs = Dictionary(answers.filter { $0.kind != .login && $0.kind != .revoke }.map { ($0.number, $0.sub) }) { first, _ in first }
        for request in forwarded {
            let number = Int(request.uri.dropFirst("/api/me?n=".count)) ?? -1
            #expect(request.values("x-user-id") == [subs[number] ?? "?"], "request \(number) carried \(request.values("x-user-id"))")
        }
        #expect(forwarded.count == answers.filter { ($0.kind == .live || $0.kind == .revoked) && $0.status == 200 }.count)

        // Back within 2 s of the announcement, on each instance; no 503 for a request after that.
        for instance in 0..<2 {
            let first = afterSwitch.filter { $0.kind == .live && $0.instance == instance && $0.status == 200 }.map(\.sent).min()
            let back = try #require(first)
            #expect(back - announced.at < .seconds(2), "instance \(instance) served again \(back - announced.at) after +switch-master")
        }
        let lateFailures = answers.filter { $0.kind == .live && $0.status == 503 && $0.sent > announced.at + .seconds(2) }
        #expect(lateFailures.isEmpty, "\(lateFailures.count) requests got 503 more than 2 s after the switch")

        // /healthz followed the primary.
        let checks = health.results
        #expect(checks.contains { $0.status == 503 && $0.at > killed }, "healthz said 503 during the failover")
        #expect(checks.last?.status == 200)

        // No acknowledged login lost, no acknowledged revocation undone, on either instance.
        for session in load.live {
            for instance in [a, b] { #expect(try await instance.status(session.cookie) == 200, "\(session.sub) was lost") }
        }
        for session in load.revoked {
            for instance in [a, b] { #expect(try await instance.status(session.cookie) == 401, "\(session.sub) came back") }
        }

        // The WebSocket on B, opened before the failover, closes when revoked through A after it.
        try await offPool { try socket.sendText("still here") }
        #expect(try await offPool { try socket.readFrame() }?.text == "echo:still here")
        let revoked = try await Curl.get(
            "\(a.admin)/users/socket/sessions", ["-X", "DELETE", "-H", "Authorization: Bearer \(BinaryHarness.token)"])
        #expect(revoked.body == "{\"revoked\":1}")
        let (frames, seconds) = try await WebSocketTests.awaitClose(socket)
        #expect(seconds < WebSocketTests.promptly, "closed \(seconds)s after the revoke through A")
        #expect(frames.last?.closeCode == 1008)

        // Failovers seen and time without a primary, on /metrics.
        let metrics = try await Curl.get("\(a.admin)/metrics", ["-H", "Authorization: Bearer \(BinaryHarness.token)"]).body
        #expect(metrics.contains("cloakroom_redis_failovers_total 1"), "\(metrics.split(separator: "\n").filter { $0.contains("redis") })")
        #expect(metrics.contains("cloakroom_redis_primary_unavailable_seconds_count 1"))
        #expect(metrics.contains("cloakroom_redis_primary_available 1"))
    }
}

/// Asks `/healthz` every 50 ms on a thread of its own, recording each status with its time.
final class HealthPoller: Sendable {
    struct Check: Sendable {
        var at: ContinuousClock.Instant
        var status: Int
    }

    let url: String
    private let running = Atomic<Bool>(false)
    private let checks = Mutex<[Check]>([])

    init(url: String) { self.url = url }

    var results: [Check] { checks.withLock { $0 } }

    func start() {
        running.store(true, ordering: .releasing)
        Thread.detachNewThread {
            while self.running.load(ordering: .acquiring) {
                let at = ContinuousClock.now
                let status = (try? Curl.request(self.url, ["--max-time", "2"]).status) ?? 0
                self.checks.withLock { $0.append(Check(at: at, status: status)) }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    func stop() { running.store(false, ordering: .releasing) }
}

/// Calls `body` until it returns true or `limit` passes; returns whether it did.
private func eventually(within limit: Duration, _ body: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await body() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await body()
}
