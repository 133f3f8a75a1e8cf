import CloakroomSessions
import Logging
import NIOCore
import NIOPosix
import Synchronization
import struct Foundation.Date

/// Sessions in Redis, shared by every Cloakroom instance that uses the same server and key
/// prefix. See ``SessionScripts`` for the key layout.
///
/// - Changes are Lua scripts (`EVALSHA`, falling back to `EVAL` on `NOSCRIPT`) that read,
///   decide and write atomically. A lookup is one of them, one round trip: it checks expiry
///   against the injected clock and touches at most once per touch interval. A merge patch is
///   two (read, merge here, compare-and-swap); whole-store walks (revoke all, list everyone,
///   sweep) go in batches. There is no local cache: a revocation holds on the very next
///   request, on every instance.
/// - Keys are the hex of ``SessionKey``; the session ID never reaches Redis. Every key carries
///   a TTL at the session's deadline, so Redis forgets expired sessions on its own; the store
///   still decides expiry by its clock and deletes what it finds expired.
/// - Opens lazily and never fails for lack of Redis: each call that cannot reach it (connect
///   timeout, command timeout, refused, closed) throws ``SessionStoreError/unavailable(_:)``,
///   and the pool reconnects in the background with backoff capped at 500 ms.
/// - ``liveCount()`` is one `ZCOUNT` on the expiry index (O(log n)), cheap enough for a health
///   check against a million sessions.
/// - API keys (``APIKeyStore``) live beside the sessions under the same prefix (layout in
///   ``APIKeyScripts``), written with the same `min_replicas` rule, never cached in process.
/// - Revocations are published on `<prefix>endings`; ``observeEndings(_:)`` subscribes on a
///   connection of its own and reports every one, this instance's included.
///
/// - With ``RedisSessionStoreSettings/sentinel``, every connection goes to the primary the
///   sentinels name and `ROLE` confirms, and moves when it changes (see ``SentinelMonitor``):
///   while there is none, calls throw ``SessionStoreError/unavailable(_:)`` at once.
/// - With ``RedisSessionStoreSettings/minReplicas`` N > 0, a create or revoke returns only once
///   `WAIT N` confirms the write reached N replicas (see ``WriteAcknowledgement``); it throws
///   ``SessionStoreError/unavailable(_:)`` otherwise. Touches and merge patches do not wait.
///
/// Needs Redis 7.0 or later (`PEXPIRETIME`, `SET ... PXAT`, `ZRANGE ... BYSCORE`), one server
/// or primary (not Cluster), and a `maxmemory-policy` that never evicts (`noeviction`): an
/// evicted user index would let that user's sessions escape a revoke-by-user.
///
/// - Important: Safe to call from any task concurrently. No lock is held across I/O.
public final class RedisSessionStore: SessionStore, SessionEndingSource {
    let keys: RedisKeySpace
    /// The timeouts in force (``updateTimeouts(_:)``), passed to every script.
    private let currentTimeouts: Mutex<ScriptTimeouts>
    let clock: any WallClock
    let pool: RedisConnectionPool
    let subscriber: RedisSubscriber
    /// Follows the primary, with Sentinel.
    let monitor: SentinelMonitor?
    /// Confirms writes on replicas, with `min_replicas`.
    let acknowledgement: WriteAcknowledgement?
    let observers: EndingObservers
    /// The audit log's observers (``SessionAuditSource``).
    let audit = SessionAuditObservers()
    let logger: Logger
    /// The create script's deadline on Redis's clock (``LoginDeadline``).
    let loginDeadline: LoginDeadline
    private let serverName: String

    /// The timeouts as the scripts take them: milliseconds, worked out once per change.
    struct ScriptTimeouts: Sendable {
        let timeouts: SessionTimeouts
        let idle: Int64
        let absolute: Int64
        let touch: Int64

        init(_ timeouts: SessionTimeouts) {
            self.timeouts = timeouts
            idle = Milliseconds.of(timeouts.idle)
            absolute = Milliseconds.of(timeouts.absolute)
            touch = Milliseconds.of(timeouts.touchInterval)
        }
    }

    var scriptTimeouts: ScriptTimeouts { currentTimeouts.withLock { $0 } }
    var timeouts: SessionTimeouts { scriptTimeouts.timeouts }
    var touchMilliseconds: Int64 { scriptTimeouts.touch }

    /// Every script judges each session it reads by the timeouts it is given, so lookups,
    /// liveness checks, lists and the sweep follow at once. What Redis already holds is not
    /// rewritten: key TTLs and expiry-index scores move to the new deadlines at a session's
    /// next touch, or when the sweep reaches its old score and finds it still live (TTLs are
    /// then extended, never shortened). Until then a shortened timeout leaves expired sessions
    /// counted by ``liveCount()``, though no call returns them.
    public func updateTimeouts(_ timeouts: SessionTimeouts) {
        currentTimeouts.withLock { $0 = ScriptTimeouts(timeouts) }
    }

    /// Sets the store up without connecting: the first operation does.
    ///
    /// - Throws: when the TLS configuration cannot be loaded (``RedisSessionStoreSettings``
    ///   has already checked the URL). Never because Redis (or Sentinel) is unreachable.
    public init(
        settings: RedisSessionStoreSettings, timeouts: SessionTimeouts, clock: any WallClock = SystemWallClock(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) throws {
        let connector: any RedisConnecting
        if let sentinel = settings.sentinel {
            let monitor = try SentinelMonitor(configuration: sentinel, data: settings.client, group: eventLoopGroup, logger: logger)
            self.monitor = monitor
            connector = monitor
            self.serverName = monitor.label
        } else {
            connector = try RedisConnector(configuration: settings.client)
            self.monitor = nil
            self.serverName = "\(settings.client.url.host):\(settings.client.url.port)"
        }
        let keys = RedisKeySpace(prefix: settings.keyPrefix)
        let observers = EndingObservers(keys: keys, logger: logger)
        self.keys = keys
        self.currentTimeouts = Mutex(ScriptTimeouts(timeouts))
        self.clock = clock
        self.logger = logger
        self.loginDeadline = LoginDeadline(commandTimeout: settings.client.commandTimeout)
        self.observers = observers
        let pool = RedisConnectionPool(connector: connector, size: settings.poolSize, group: eventLoopGroup, logger: logger)
        self.pool = pool
        let acknowledgement = settings.minReplicas > 0
            ? WriteAcknowledgement(
                replicas: settings.minReplicas, commandTimeout: settings.client.commandTimeout,
                pool: RedisConnectionPool(connector: connector, size: settings.poolSize, group: eventLoopGroup, logger: logger),
                gate: monitor?.failoverGate)
            : nil
        self.acknowledgement = acknowledgement
        RedisWriteMetrics.register()
        let feed = RevocationFeedMetrics()
        feed.subscribed(false)
        let subscriber = RedisSubscriber(
            connector: connector, channels: [keys.endingsChannel], group: eventLoopGroup, logger: logger,
            onSubscribed: { _ in feed.subscribed(true) }, onLost: { feed.subscribed(false) },
            onMessage: { _, payload in observers.deliver(payload) }
        )
        self.subscriber = subscriber
        // A new primary: whatever waits out a reconnection backoff connects now.
        monitor?.onPrimaryChange {
            pool.kick()
            acknowledgement?.pool.kick()
            subscriber.kick()
        }
    }

    // MARK: One session

    public func create(key: SessionKey, attributes: JSONObject) async throws -> Session {
        try await create(key: key, attributes: attributes, privatePart: "", links: [])
    }

    /// A store error as ``guarded(_:)`` makes it.
    func unavailable(_ error: any Error) -> any Error {
        error is SessionStoreError ? error : SessionStoreError.unavailable("redis at \(serverName): \(error)")
    }

    public func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> {
        guard !keys.isEmpty else { return [] }
        return try await guarded {
            let now = Milliseconds.of(clock.now())
            // Chunks keep each script short; they are pipelined, so still one round trip.
            let chunks = stride(from: 0, to: keys.count, by: 512).map { $0..<min($0 + 512, keys.count) }
            let replies = try await runPipelined(SessionScripts.liveKeys, now: now, count: chunks.count) { index in
                (chunks[index].count, { command in
                    for key in keys[chunks[index]] { command.append(hexOf: key) }
                })
            }
            var live = Set<SessionKey>()
            for (range, reply) in zip(chunks, replies) {
                guard let positions = reply.elements else { throw unexpected(reply, from: "liveKeys") }
                for position in positions {
                    guard case .integer(let n) = position, n >= 1, n <= range.count else {
                        throw unexpected(reply, from: "liveKeys")
                    }
                    live.insert(keys[range.lowerBound + Int(n) - 1])
                }
            }
            return live
        }
    }

    public func update(key: SessionKey, patch: JSONValue) async throws -> Session? {
        let members = try MemorySessionTable.patchMembers(patch)
        // A rejected patch comes back as a value so the timer does not count it as a store error.
        return try await SessionMetrics.measure(.update) {
            try await guarded { try await mergeLoop(key: key, patch: patch, members: members) }
        }.get()
    }

    /// Reads, merges here, then writes only if the attributes' version is still the one read;
    /// otherwise merges again on the newer attributes.
    private func mergeLoop(key: SessionKey, patch: JSONValue, members: JSONObject) async throws -> Result<Session?, SessionStoreError> {
        let now = Milliseconds.of(clock.now())
        for _ in 0..<64 {
            let read = try await run(SessionScripts.read, now: now, extraCount: 1) { $0.append(hexOf: key) }
            let fields: [RESPValue]
            if reportExpired(read) { return .success(nil) }
            switch read {
            case .null:
                return .success(nil)
            case .array(let values) where values.count == 6:
                fields = values
            default:
                throw unexpected(read, from: "read")
            }
            guard let subject = fields[1].string, let version = fields[5].string else { throw unexpected(read, from: "read") }
            if let newSubject = members["sub"], newSubject != .string(subject) {
                return .failure(.invalidPatch("\"sub\" cannot be changed or removed"))
            }
            let current: JSONObject
            do {
                current = try attributes(fields[2])
            } catch let damage as DamagedSessionRecord {
                // No session, as a lookup would have found.
                await discardDamaged(key: key, DamagedRedisRecord(damage: damage, handle: fields[0].string, attributes: fields[2]))
                return .success(nil)
            }
            guard case .object(let merged) = JSONValue.object(current).applyingMergePatch(patch) else {
                preconditionFailure("an object merge patch always yields an object")
            }
            let text = JSONValue.object(merged).jsonText
            let reply = try await run(SessionScripts.replace, now: now, extraCount: 3) { command in
                command.append(hexOf: key)
                command.append(version)
                command.append(text)
            }
            if reportExpired(reply) { return .success(nil) }
            switch reply {
            case .null:
                return .success(nil)
            case .integer(0):
                continue
            case .array(let updated) where updated.count == 3:
                return .success(try session(updated[0], .null, updated[1], updated[2], attributes: merged))
            default:
                throw unexpected(reply, from: "replace")
            }
        }
        throw RedisClientError.protocolError("the session kept changing during a merge patch")
    }

    public func close() async throws {
        // First, so the connections closing below are not taken for a failing primary.
        monitor?.shutDown()
        await subscriber.close()
        await pool.close()
        await acknowledgement?.pool.close()
        await monitor?.close()
    }

    // MARK: Running scripts

    /// Runs `script` with the common arguments (prefix, now, idle, absolute) and then
    /// `extraCount` more that `writeExtra` appends, on `connection` or one of the pool's. Error
    /// replies are thrown.
    func run(
        _ script: RedisScript, on connection: RedisConnection? = nil, now: Int64, extraCount: Int,
        _ writeExtra: (inout RESPCommandBuilder) -> Void
    ) async throws -> RESPValue {
        let connection = if let connection { connection } else { try await pool.connection() }
        var reply = try await connection.send(command(script, bySHA: true, now: now, extraCount: extraCount, writeExtra))
        if reply.isNoScript {
            reply = try await connection.send(command(script, bySHA: false, now: now, extraCount: extraCount, writeExtra))
        }
        if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
        return reply
    }

    /// Runs `script` `count` times in one round trip; `arguments(i)` gives the i-th call's
    /// extra argument count and writer. Replies come back in order.
    func runPipelined(
        _ script: RedisScript, now: Int64, count: Int,
        _ arguments: (Int) -> (Int, (inout RESPCommandBuilder) -> Void)
    ) async throws -> [RESPValue] {
        let connection = try await pool.connection()
        let commands = (0..<count).map { index in
            let (extraCount, write) = arguments(index)
            return command(script, bySHA: true, now: now, extraCount: extraCount, write)
        }
        var replies = try await connection.send(all: commands)
        let missing = replies.indices.filter { replies[$0].isNoScript }
        if !missing.isEmpty {
            let retried = try await connection.send(all: missing.map { index in
                let (extraCount, write) = arguments(index)
                return command(script, bySHA: false, now: now, extraCount: extraCount, write)
            })
            for (index, reply) in zip(missing, retried) { replies[index] = reply }
        }
        for reply in replies {
            if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
        }
        return replies
    }

    func command(
        _ script: RedisScript, bySHA: Bool, now: Int64, extraCount: Int, _ writeExtra: (inout RESPCommandBuilder) -> Void
    ) -> ByteBuffer {
        var command = RESPCommandBuilder(argumentCount: 7 + extraCount, capacity: bySHA ? 320 : script.source.utf8.count + 320)
        if bySHA {
            command.append("EVALSHA")
            command.append(script.sha1)
        } else {
            command.append("EVAL")
            command.append(script.source)
        }
        command.append("0")
        command.append(keys.prefix)
        command.append(now)
        let timeouts = scriptTimeouts
        command.append(timeouts.idle)
        command.append(timeouts.absolute)
        writeExtra(&command)
        return command.buffer
    }

    // MARK: Errors and replies

    /// Runs `body`, turning every failure to reach or understand Redis into
    /// ``SessionStoreError/unavailable(_:)``.
    func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SessionStoreError {
            throw error
        } catch {
            throw SessionStoreError.unavailable("redis at \(serverName): \(error)")
        }
    }

    func unexpected(_ reply: RESPValue, from script: String) -> RedisClientError {
        // The reply is not quoted: it may hold session attributes.
        .protocolError("unexpected reply from the \(script) script")
    }

    /// A session from a script's fields: handle, attributes JSON, created ms, last seen ms.
    func session(
        _ handle: RESPValue, _ attributesText: RESPValue, _ created: RESPValue, _ lastSeen: RESPValue,
        attributes known: JSONObject? = nil, cache: ParsedAttributesCache? = nil
    ) throws -> Session {
        guard let handleText = handle.string, let createdAt = created.storedMilliseconds,
            let lastSeenAt = lastSeen.storedMilliseconds
        else {
            throw DamagedRedisRecord(
                damage: DamagedSessionRecord("malformed handle or timestamps"), handle: handle.string, attributes: attributesText)
        }
        let handle = handleText
        let createdDate = Milliseconds.date(createdAt)
        let lastSeenDate = Milliseconds.date(lastSeenAt)
        let attributes: JSONObject
        do {
            attributes = try known ?? self.attributes(attributesText, cache: cache)
        } catch let damage as DamagedSessionRecord {
            throw DamagedRedisRecord(damage: damage, handle: handle, attributes: attributesText)
        }
        return Session(
            handle: handle, attributes: attributes, createdAt: createdDate, lastSeenAt: lastSeenDate,
            expiresAt: timeouts.expiry(createdAt: createdDate, lastSeenAt: lastSeenDate)
        )
    }

    func attributes(_ value: RESPValue, cache: ParsedAttributesCache? = nil) throws -> JSONObject {
        if let cache, case .bulkString(let bytes) = value {
            return try bytes.withUnsafeReadableBytes { raw in
                try cache.object(forBytes: raw) { try parseAttributes(value) }
            }
        }
        return try parseAttributes(value)
    }

    /// Throws ``DamagedSessionRecord`` when the stored attributes are not a session's.
    private func parseAttributes(_ value: RESPValue) throws -> JSONObject {
        guard let text = value.string else { throw DamagedSessionRecord("the attributes are not a string") }
        return try DamagedSessionRecord.attributes(text: text)
    }

}

extension RESPValue {
    /// The server does not have the script cached.
    var isNoScript: Bool {
        guard case .error(let message) = self else { return false }
        return message.readableBytesView.starts(with: "NOSCRIPT".utf8)
    }
}

/// A store whose lookup can complete on a SwiftNIO event loop without a task: the server's
/// request handler uses it to stay on its loop.
public protocol EventLoopSessionLookup: SessionStore {
    /// Same semantics as ``SessionStore/lookup(key:)``; the future completes on `eventLoop`.
    /// `cache` is the calling connection's, used on `eventLoop` only.
    func lookup(key: SessionKey, on eventLoop: any EventLoop, cache: ParsedAttributesCache?) -> EventLoopFuture<Session?>
}

extension EventLoopSessionLookup {
    public func lookup(key: SessionKey, on eventLoop: any EventLoop) -> EventLoopFuture<Session?> {
        lookup(key: key, on: eventLoop, cache: nil)
    }
}

extension RedisSessionStore: EventLoopSessionLookup {}
