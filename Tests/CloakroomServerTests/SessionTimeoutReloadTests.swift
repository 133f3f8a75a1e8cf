import CloakroomConfig
import CloakroomServer
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Logging
import Testing

/// A reload of `session.idle_timeout` / `absolute_timeout` / `touch_interval` reaches the
/// session store, whichever it is: sessions made before the reload and after it live by the
/// new timeouts from the next request on. The real proxy on a socket, the store `session.store`
/// opens (a real redis-server for Redis), time moved by a manual clock.
@Suite(.serialized)
struct SessionTimeoutReloadTests {
    enum Store: String, CaseIterable, Sendable {
        case memory, file, redis
    }

    /// The proxy on `store`, started with the default timeouts (idle 30m, absolute 12h), and
    /// what its reloads read; for Redis, the server too.
    static func withProxy(
        _ store: Store, clock: ManualWallClock,
        _ body: (ProxyHarness, ReloadTests.Source, RedisServerProcess?) async throws -> Void
    ) async throws {
        switch store {
        case .memory:
            try await run(.memory(MemoryStoreSettings()), clock: clock) { try await body($0, $1, nil) }
        case .file:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-reload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("sessions.db").path
            try await run(.file(FileStoreSettings(path: path)), clock: clock) { try await body($0, $1, nil) }
        case .redis:
            try await RedisServerProcess.with { redis in
                try await run(.redis(RedisStoreSettings(url: redis.url)), clock: clock) { try await body($0, $1, redis) }
            }
        }
    }

    private static func run(
        _ settings: StoreConfiguration, clock: ManualWallClock, _ body: (ProxyHarness, ReloadTests.Source) async throws -> Void
    ) async throws {
        let backend = try await TestBackend.start()
        let configuration = ProxyHarness.configuration(backendPort: backend.port) { $0.session.store = settings }
        #expect(configuration.session.idleTimeout == .minutes(30) && configuration.session.absoluteTimeout == .hours(12))
        let source = ReloadTests.Source()
        var quiet = Logger(label: "cloakroom-test")
        quiet.logLevel = .critical
        let server: ProxyServer
        do {
            server = try await ProxyServer.open(
                configuration: configuration, logger: quiet, clock: clock, threads: 1,
                configurationSource: { try source.read(initial: configuration) })
        } catch {
            await backend.stop()
            throw error
        }
        let harness: ProxyHarness
        do {
            harness = ProxyHarness(server: server, backend: backend, port: try await server.start()[0].port!)
        } catch {
            await server.shutdown()
            await backend.stop()
            throw error
        }
        do {
            try await body(harness, source)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    /// Reloads with `change` applied to the configuration in force.
    static func reload(_ harness: ProxyHarness, _ source: ReloadTests.Source, _ change: (inout SessionSettings) -> Void) async {
        var changed = harness.server.configuration
        change(&changed.session)
        source.set(changed)
        #expect(await harness.server.reload() == .reloaded)
    }

    static func status(_ harness: ProxyHarness, _ cookie: String) async throws -> Int {
        try await Curl.get("\(harness.base)/api/me", ["-H", "Cookie: \(cookie)"]).status
    }

    /// From idle 30m to 2s: a session made before the reload and one made after both end once
    /// left alone for longer than 2 s, while one used every 1.5 s lives on.
    @Test(arguments: Store.allCases)
    func aShorterIdleTimeoutEndsIdleSessions(_ store: Store) async throws {
        let clock = ManualWallClock()
        try await Self.withProxy(store, clock: clock) { harness, source, _ in
            let before = try await harness.login("ida")
            await Self.reload(harness, source) {
                $0.idleTimeout = .seconds(2)
                $0.touchInterval = .seconds(1)
            }
            let after = try await harness.login("ida")
            let used = try await harness.login("uma")
            for step in 1...3 {  // 4.5 s of steady use
                clock.advance(by: .milliseconds(1_500))
                #expect(try await Self.status(harness, used) == 200, "\(store): used, step \(step)")
            }
            #expect(try await Self.status(harness, before) == 401, "\(store): made before the reload, idle 4.5 s")
            #expect(try await Self.status(harness, after) == 401, "\(store): made after the reload, idle 4.5 s")
            clock.advance(by: .milliseconds(2_500))
            #expect(try await Self.status(harness, used) == 401, "\(store): used, then idle 2.5 s")
        }
    }

    /// From absolute 12h to 5s: sessions used every second, made before the reload and after
    /// it, end 5 s after they were made.
    @Test(arguments: Store.allCases)
    func aShorterAbsoluteTimeoutEndsSessionsInUse(_ store: Store) async throws {
        let clock = ManualWallClock()
        try await Self.withProxy(store, clock: clock) { harness, source, _ in
            let before = try await harness.login("abe")
            await Self.reload(harness, source) { $0.absoluteTimeout = .seconds(5) }
            let after = try await harness.login("abe")
            for second in 1...4 {
                clock.advance(by: .seconds(1))
                #expect(try await Self.status(harness, before) == 200, "\(store): made before the reload, \(second) s old")
                #expect(try await Self.status(harness, after) == 200, "\(store): made after the reload, \(second) s old")
            }
            clock.advance(by: .seconds(1))
            #expect(try await Self.status(harness, before) == 401, "\(store): made before the reload, 5 s old")
            #expect(try await Self.status(harness, after) == 401, "\(store): made after the reload, 5 s old")
        }
    }

    /// And back: a longer idle timeout holds for a session made under the shorter one.
    @Test(arguments: Store.allCases)
    func aLongerIdleTimeoutKeepsSessionsMadeBefore(_ store: Store) async throws {
        let clock = ManualWallClock()
        try await Self.withProxy(store, clock: clock) { harness, source, _ in
            await Self.reload(harness, source) {
                $0.idleTimeout = .seconds(2)
                $0.touchInterval = .seconds(1)
            }
            let kept = try await harness.login("lea")
            let probe = try await harness.login("lea")
            let gone = try await harness.login("lea")
            clock.advance(by: .milliseconds(1_500))
            #expect(try await Self.status(harness, kept) == 200, "\(store): idle 1.5 s")
            clock.advance(by: .milliseconds(1_500))
            #expect(try await Self.status(harness, probe) == 401, "\(store): idle 3 s under idle 2s")
            await Self.reload(harness, source) {
                $0.idleTimeout = .minutes(30)
                $0.touchInterval = .minutes(1)
            }
            // Found by an audit: a session that had already idled out, with no request or sweep
            // since to remove it, came back under the longer timeout.
            #expect(try await Self.status(harness, gone) == 401, "\(store): ended at 2 s under idle 2s, before the reload")
            clock.advance(by: .seconds(10))
            #expect(try await Self.status(harness, kept) == 200, "\(store): idle 11.5 s, under idle 30m")
        }
    }

    /// The sweeper keeps pace with a shorter idle timeout: it swept every minute under the old
    /// one, and sweeps an idle session within seconds of the new one passing, with no request.
    @Test func theSweeperFollowsAShorterIdleTimeout() async throws {
        let clock = ManualWallClock()
        try await Self.withProxy(.memory, clock: clock) { harness, source, _ in
            let memory = try #require(harness.server.store as? MemorySessionStore)
            _ = try await harness.login("sam")
            await Self.reload(harness, source) {
                $0.idleTimeout = .seconds(2)
                $0.touchInterval = .seconds(1)
            }
            clock.advance(by: .seconds(3))
            var count = memory.count
            for _ in 0..<50 where count > 0 {  // 5 s of real time; the old interval was 60 s
                try await Task.sleep(for: .milliseconds(100))
                count = memory.count
            }
            #expect(count == 0, "swept without a request")
        }
    }

    /// Redis keeps every session key until its deadline (plus a grace of two minutes) and
    /// scores it by that deadline: a login after the reload gets the new ones. A session made
    /// under a shorter idle timeout gets its TTL extended by the sweep once it is longer.
    @Test func redisKeysFollowTheNewTimeouts() async throws {
        let clock = ManualWallClock()
        try await Self.withProxy(.redis, clock: clock) { harness, source, redis in
            let redis = try #require(redis)
            await Self.reload(harness, source) {
                $0.idleTimeout = .seconds(2)
                $0.touchInterval = .seconds(1)
            }
            let created = Int64(clock.now().timeIntervalSince1970 * 1000)
            _ = try await harness.login("rei")
            let key = try await redis.cli(["KEYS", "cloakroom:s:*"])
            #expect(!key.isEmpty && !key.contains("\n"), "one session key: \(key)")
            let hex = String(key.dropFirst("cloakroom:s:".count))
            #expect(try await redis.cli(["ZSCORE", "cloakroom:expiries", hex]) == "\(created + 2_000)")
            #expect(try await redis.cli(["PEXPIRETIME", key]) == "\(created + 2_000 + 120_000)")

            await Self.reload(harness, source) {
                $0.idleTimeout = .minutes(30)
                $0.touchInterval = .minutes(1)
            }
            clock.advance(by: .seconds(3))  // past the deadline the index has, not the new one
            #expect(try await harness.server.store.sweep() == 0)
            let deadline = created + 30 * 60_000
            #expect(try await redis.cli(["ZSCORE", "cloakroom:expiries", hex]) == "\(deadline)")
            #expect(try await redis.cli(["PEXPIRETIME", key]) == "\(deadline + 120_000)")
        }
    }
}
