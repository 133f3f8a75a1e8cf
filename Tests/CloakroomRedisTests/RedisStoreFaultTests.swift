@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
#if os(Linux)
import Glibc
#endif
import NIOCore
import NIOPosix
import NIOSSL
import Testing

extension RedisServerTests {
    /// The store when Redis is missing, stopped, restarted, slow, lying, locked or encrypted:
    /// errors come quickly as `unavailable`, never as a hang or a crash, and service resumes alone.
    @Suite struct RedisStoreFaultTests {
        func expectUnavailable(
            _ body: () async throws -> Void, containing text: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
        ) async {
            do {
                try await body()
                Issue.record("expected SessionStoreError.unavailable", sourceLocation: sourceLocation)
            } catch let SessionStoreError.unavailable(why) {
                if let text { #expect(why.contains(text), "\(why)", sourceLocation: sourceLocation) }
            } catch {
                Issue.record("expected SessionStoreError.unavailable, got \(error)", sourceLocation: sourceLocation)
            }
        }

        @Test func unreachableRedisFailsQuicklyAndTheStoreStillOpens() async throws {
            let port = try await RedisServerProcess.with { $0.port }  // nothing listens there now
            // A connect timeout far beyond the bound, so a loaded machine cannot blur the two.
            let store = try makeStore(try storeSettings("redis://127.0.0.1:\(port)/0", connectTimeout: .seconds(20)))
            try await withStore(store) { store in
                for _ in 0..<5 {
                    let elapsed = await timed {
                        await expectUnavailable({ _ = try await store.lookup(key: StoreFixture.newKey()) }, containing: "refused")
                    }
                    #expect(elapsed < .seconds(5), "a refused connection fails at once, not after the connect timeout")
                }
                await expectUnavailable { _ = try await store.liveCount() }
                await expectUnavailable { _ = try await store.create(key: StoreFixture.newKey(), attributes: ["sub": "alice"]) }
            }
        }

        /// Killed mid-service and started again: calls fail as unavailable meanwhile, and the same
        /// store serves again within about a second of Redis returning. With `appendonly yes`, the
        /// sessions are all still there.
        @Test func recoversAfterARestartAndKeepsSessionsWithAppendOnly() async throws {
            try await RedisServerProcess.with(appendOnly: true) { redis in
                let clock = ManualWallClock()
                try await withStore(try makeStore(try storeSettings(redis.url), clock: clock)) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let keys = try await (0..<20).asyncMap { i in try await fixture.create("user\(i % 3)").key }
                    let revoked = keys[0]
                    #expect(try await store.revoke(key: revoked))

                    await redis.kill()
                    let elapsed = await timed {
                        await expectUnavailable { _ = try await store.lookup(key: keys[1]) }
                    }
                    #expect(elapsed < .seconds(3), "fails, rather than wait for Redis")
                    await expectUnavailable { _ = try await store.lookup(key: keys[1]) }

                    try await redis.restart()
                    let back = ContinuousClock.now
                    let recovered = await eventually(within: .seconds(10), every: .milliseconds(10)) {
                        (try? await store.liveCount()) != nil
                    }
                    let recovery = ContinuousClock.now - back
                    #expect(recovered)
                    // About a second on an idle machine; a backoff grown past its cap would be far more.
                    #expect(recovery < .seconds(4), "recovered \(recovery) after Redis came back")

                    #expect(try await store.lookup(key: revoked) == nil)
                    for key in keys.dropFirst() {
                        #expect(try await store.lookup(key: key) != nil, "a session survived the restart")
                    }
                    #expect(try await store.sessions(subject: nil).count == 19)
                    #expect(try await store.liveCount() == 19)
                }
            }
        }

        #if os(Linux)
        /// A listener whose accept queue is full never completes a TCP handshake (Linux drops
        /// the SYN): each call fails after the connect timeout.
        @Test func connectTimeoutBoundsAnUnansweredConnect() async throws {
            let listener = try await FullBacklogListener.open()
            defer { listener.close() }
            let store = try makeStore(try storeSettings("redis://127.0.0.1:\(listener.port)/0", connectTimeout: .seconds(1), commandTimeout: .seconds(30)))
            try await withStore(store) { store in
                for _ in 0..<2 {
                    let elapsed = await timed {
                        await expectUnavailable({ _ = try await store.lookup(key: StoreFixture.newKey()) }, containing: "connect timed out")
                    }
                    #expect(elapsed < .seconds(10), "after the 1 s connect timeout, not the 30 s command timeout")
                }
            }
        }
        #endif

        /// A server that accepts and never answers: the connection's PING times out, so the first
        /// call fails after the command timeout, and later ones at once or after another timeout
        /// (whether a retry is under way), never later.
        @Test func silentServerTimesOut() async throws {
            try await withFakeServer(answer: { _ in nil }) { port in
                let store = try makeStore(try storeSettings("redis://127.0.0.1:\(port)/0", commandTimeout: .seconds(1)))
                try await withStore(store) { store in
                    for attempt in 0..<5 {
                        let elapsed = await timed {
                            await expectUnavailable({ _ = try await store.lookup(key: StoreFixture.newKey()) }, containing: "timed out")
                        }
                        if attempt == 0 { #expect(elapsed >= .milliseconds(950)) }
                        #expect(elapsed < .seconds(5), "\(elapsed)")
                    }
                }
            }
        }

        /// Garbage, oversized and deeply nested replies are protocol errors: the connection is
        /// dropped, the caller gets `unavailable`, the process lives on.
        @Test(arguments: [
            "?garbage\r\n", "$999999999\r\n", "$5\r\nabcdefg\r\n", String(repeating: "*1\r\n", count: 100) + ":1\r\n",
            ":99999999999999999999999\r\n", "*3\r\n:1\r\n",
        ])
        func malformedRepliesAreProtocolErrors(_ reply: String) async throws {
            try await withFakeServer(answer: { _ in reply }) { port in
                let store = try makeStore(try storeSettings("redis://127.0.0.1:\(port)/0", commandTimeout: .seconds(1)))
                try await withStore(store) { store in
                    let elapsed = await timed {
                        await expectUnavailable { _ = try await store.lookup(key: StoreFixture.newKey()) }
                    }
                    // At once, or (an array cut short) at the command timeout: never a hang.
                    #expect(elapsed < .seconds(5), "\(elapsed)")
                }
            }
        }

        @Test func wrongPasswordIsAClearError() async throws {
            let acl = ["--user", "default", "off", "--user", "cloakroom", "on", ">s3cret", "~*", "&*", "+@all"]
            try await RedisServerProcess.with(arguments: acl) { redis in
                let wrong = try makeStore(try storeSettings("redis://cloakroom:wrong@127.0.0.1:\(redis.port)/0"))
                try await withStore(wrong) { store in
                    await expectUnavailable({ _ = try await store.lookup(key: StoreFixture.newKey()) }, containing: "authentication failed: WRONGPASS")
                }
                let right = try makeStore(try storeSettings("redis://cloakroom:s3cret@127.0.0.1:\(redis.port)/0"))
                try await withStore(right) { store in
                    let (key, _) = try await StoreFixture(store: store, clock: ManualWallClock()).create("alice")
                    #expect(try await store.lookup(key: key) != nil)
                }
            }
        }

        /// Two stores with the same prefix on different databases share nothing.
        @Test func databasesAreIsolated() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                let zero = try makeStore(try storeSettings("redis://127.0.0.1:\(redis.port)/0", prefix: "cr:"), clock: clock)
                let three = try makeStore(try storeSettings("redis://127.0.0.1:\(redis.port)/3", prefix: "cr:"), clock: clock)
                try await withStore(zero) { zero in
                    try await withStore(three) { three in
                        let (key, _) = try await StoreFixture(store: three, clock: clock).create("alice")
                        #expect(try await three.lookup(key: key) != nil)
                        #expect(try await zero.lookup(key: key) == nil)
                        #expect(try await zero.revokeAll() == 0)
                        #expect(try await three.liveCount() == 1)
                        #expect(try await redis.cli(["DBSIZE"]) == "0")
                        #expect(try await redis.cli(["EXISTS", "cr:s:\(key.hex)"], options: ["-n", "3"]) == "1")
                    }
                }
            }
        }

        /// `rediss://` against a TLS-only redis-server with certificates made by `openssl` for this
        /// test: works when the CA is trusted, and fails clearly when it is not.
        @Test func tlsWithATrustedCAAndRefusalWithout() async throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let files = try await makeCertificates(in: directory)
            try await RedisServerProcess.with(tls: files) { redis in
                #expect(redis.url.hasPrefix("rediss://localhost:"))
                let clock = ManualWallClock()
                let trusted = try makeStore(try storeSettings(redis.url, tls: try trusting(files)), clock: clock)
                try await withStore(trusted) { store in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (key, session) = try await fixture.create("alice", ["roles": ["admin"]])
                    #expect(try await store.lookup(key: key) == session)
                    #expect(try await store.revokeAll(subject: "alice") == 1)
                }
                // By IP address: the certificate names 127.0.0.1 too.
                let byAddress = try makeStore(try storeSettings("rediss://127.0.0.1:\(redis.port)/0", tls: try trusting(files)))
                try await withStore(byAddress) { store in
                    let count = try await store.liveCount()
                    #expect(count == 0)
                }

                let untrusted = try makeStore(try storeSettings(redis.url))  // system trust roots only
                try await withStore(untrusted) { store in
                    await expectUnavailable({ _ = try await store.liveCount() }, containing: "certificate")
                }
                let plain = try makeStore(try storeSettings("redis://localhost:\(redis.port)/0"))
                try await withStore(plain) { store in
                    await expectUnavailable { _ = try await store.liveCount() }
                }
            }
        }
    }
}

/// A TCP server on 127.0.0.1 that reads whatever comes and answers each read with `answer`
/// (or stays silent for `nil`), for faults a real Redis will not produce.
func withFakeServer(answer: @escaping @Sendable (ByteBuffer) -> String?, _ body: (Int) async throws -> Void) async throws {
    final class Answerer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: @Sendable (ByteBuffer) -> String?
        init(_ answer: @escaping @Sendable (ByteBuffer) -> String?) { self.answer = answer }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let reply = answer(unwrapInboundIn(data)) {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
            }
        }
    }
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Answerer(answer)) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        try await body(server.localAddress!.port!)
        try await server.close()
    } catch {
        try? await server.close()
        throw error
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

#if os(Linux)
/// A TCP listener on 127.0.0.1 that never accepts, with its accept queue already full, so a
/// new connection's handshake is never answered (Linux drops the SYN).
final class FullBacklogListener {
    let port: Int
    private var descriptors: [Int32] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw TestFailure("socket failed") }
        descriptors.append(listener)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(listener, raw, length) == 0 && listen(listener, 0) == 0 && getsockname(listener, raw, &length) == 0
            }
        }
        guard bound else { throw TestFailure("bind or listen failed") }
        port = Int(UInt16(bigEndian: address.sin_port))
        // Fill the queue with connections nobody accepts.
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            descriptors.append(filler)
            _ = fcntl(filler, F_SETFL, O_NONBLOCK)
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// A listener whose queue is full, once the fillers' handshakes have completed (waited for
    /// without blocking a cooperative thread).
    static func open() async throws -> FullBacklogListener {
        let listener = try FullBacklogListener()
        try await Task.sleep(for: .milliseconds(100))
        return listener
    }

    func close() {
        for descriptor in descriptors { _ = Glibc.close(descriptor) }
        descriptors = []
    }
}
#endif

extension RedisServerTests {
    /// A login whose reply did not come in time is answered as failed, and must not happen
    /// later. Found by an audit: a Redis paused beyond `command_timeout` (`SIGSTOP`: a long fork,
    /// a stalled host) ran the queued create when it resumed, making a session no browser held
    /// and ending the user's least recently used one at the limit, with no audit line. The
    /// create script carries a deadline on Redis's clock (``LoginDeadline``).
    @Suite(.serialized) struct RedisLoginDeadlineTests {
        static let context = SessionRequestContext(requestID: "login", origin: SessionOrigin(client: "10.0.0.1", userAgent: "t"), maxPerUser: 2)

        @Test func aLoginThatTimedOutDoesNotLandWhenRedisResumes() async throws {
            try await RedisServerProcess.with { redis in
                let settings = try storeSettings(redis.url, poolSize: 1, commandTimeout: .milliseconds(300))
                try await withStore(try makeStore(settings)) { store in
                    let audit = AuditRecorder()
                    store.observeAudit { audit.append($0) }
                    await store.measureClock()
                    #expect(store.loginDeadline.deadline() > 0, "measured")
                    let first = StoreFixture.newKey(), second = StoreFixture.newKey(), late = StoreFixture.newKey()
                    for key in [first, second] { _ = try await Self.context.run { try await store.create(key: key, attributes: ["sub": "dave"]) } }

                    redis.pause()
                    await #expect(throws: SessionStoreError.self) {
                        _ = try await Self.context.run { try await store.create(key: late, attributes: ["sub": "dave"]) }
                    }
                    try await Task.sleep(for: .milliseconds(100))  // paused beyond the timeout
                    redis.resume()
                    try await Task.sleep(for: .milliseconds(500))

                    #expect(try await store.liveKeys(among: [first, second, late]) == [first, second], "neither session ended, none made")
                    #expect(try await store.sessions(subject: "dave").count == 2)
                    #expect(!audit.all.contains { $0.event.kind == .ended(.limit) })
                }
            }
        }

        /// A `LATE` refusal that arrives while the proxy still waits means Redis's clock moved
        /// (here: an offset ten seconds off): the login is made without a deadline and the
        /// clock measured again.
        @Test func aClockThatMovedCostsNoLogin() async throws {
            try await RedisServerProcess.with { redis in
                try await withStore(try makeStore(try storeSettings(redis.url))) { store in
                    await store.measureClock()
                    // Redis's offset plus the timeout, which stays put while time passes.
                    @Sendable func slack() -> Int64 { store.loginDeadline.deadline() - LoginDeadline.microseconds(.now()) }
                    let measured = slack()
                    // Redis's clock "ten seconds behind" the measurement: every deadline has passed.
                    store.loginDeadline.record(redisMicroseconds: LoginDeadline.microseconds(.now()) + measured - 10_000_000, sent: .now())
                    #expect(slack() < measured - 9_000_000)

                    let key = StoreFixture.newKey()
                    _ = try await Self.context.run { try await store.create(key: key, attributes: ["sub": "erin"]) }
                    #expect(try await store.liveKeys(among: [key]) == [key])
                    #expect(await eventually(within: .seconds(2)) { abs(slack() - measured) < 1_000_000 }, "measured again")
                }
            }
        }
    }
}
