import NIOCore

/// `min_replicas`: a login, logout or revocation is acknowledged only once `WAIT N` says N
/// replicas have it, so the replica a failover promotes has it too.
///
/// `WAIT` covers the writes made before it *on its connection*, and blocks that connection
/// until it returns, so these writes get a pool of their own: a `WAIT` that has to sit out its
/// timeout (replicas gone) never delays the lookups on the main pool. The write and its `WAIT`
/// are sent back to back, one round trip. `WAIT`'s own timeout is a little shorter than the
/// command timeout (three quarters of it, and at most 250 ms shorter), so that a missing
/// replica comes back as a count and a 503, not as a timed-out connection.
struct WriteAcknowledgement: Sendable {
    let replicas: Int
    let pool: RedisConnectionPool
    let waitCommand: ByteBuffer
    /// Behind Sentinel: no write is acknowledged while a failover runs.
    let gate: FailoverGate?

    init(replicas: Int, commandTimeout: Duration, pool: RedisConnectionPool, gate: FailoverGate? = nil) {
        self.replicas = replicas
        self.pool = pool
        self.gate = gate
        var wait = RESPCommandBuilder(argumentCount: 3)
        wait.append("WAIT")
        wait.append(replicas)
        wait.append(Self.waitMilliseconds(commandTimeout: commandTimeout))
        waitCommand = wait.buffer
    }

    /// `WAIT`'s timeout for a command timeout: 3/4 of it, or 250 ms less, whichever is longer.
    static func waitMilliseconds(commandTimeout: Duration) -> Int64 {
        let total = Milliseconds.of(commandTimeout)
        return max(1, max(total * 3 / 4, total - 250))
    }

    /// Taken before the write is sent, for ``check(_:ticket:)``.
    func ticket() -> Int { gate?.ticket() ?? 0 }

    /// Throws unless `reply` (to ``waitCommand``) counts at least ``replicas`` and no failover
    /// was announced since `ticket` was taken, or is under way.
    func check(_ reply: RESPValue, ticket: Int) throws {
        if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
        guard case .integer(let count) = reply else { throw RedisClientError.protocolError("unexpected reply to WAIT") }
        guard count >= replicas else {
            RedisWriteMetrics.unacknowledged.increment()
            throw RedisClientError.notAcknowledged(acknowledged: Int(count), required: replicas)
        }
        if let gate, !gate.allows(ticket, now: .now) {
            RedisWriteMetrics.unacknowledged.increment()
            throw RedisClientError.failoverUnderWay
        }
    }

    /// `WAIT` for what `connection` wrote since `ticket` was taken.
    func confirm(on connection: RedisConnection, ticket: Int) async throws {
        try check(try await connection.send(waitCommand), ticket: ticket)
    }
}

extension RedisSessionStore {
    /// The connection for a write that must be acknowledged: the acknowledged writes' pool with
    /// `min_replicas`, else the main one.
    func writeConnection() async throws -> RedisConnection {
        try await (acknowledgement?.pool ?? pool).connection()
    }

    /// ``run(_:on:now:extraCount:_:)`` for a login, logout or revocation: with `min_replicas`,
    /// followed by `WAIT` in the same round trip, and refused unless enough replicas confirm.
    /// The script's own error, if any, is reported first.
    func runAcknowledged(
        _ script: RedisScript, now: Int64, extraCount: Int, _ writeExtra: (inout RESPCommandBuilder) -> Void
    ) async throws -> RESPValue {
        try await runAcknowledged(script, now: now, extraCount: extraCount, writeExtra, reading: { $0 })
    }

    /// The same, with the script's reply read by `read` *before* the replicas' count is
    /// checked: what a revocation did on the primary (the sessions it ended, reported to the
    /// audit log and the watchers) happened whether or not enough replicas confirm it, and the
    /// 503 that follows says only that it is not yet safe from a failover.
    func runAcknowledged<T>(
        _ script: RedisScript, now: Int64, extraCount: Int, _ writeExtra: (inout RESPCommandBuilder) -> Void,
        reading read: (RESPValue) throws -> T
    ) async throws -> T {
        guard let acknowledgement else { return try read(try await run(script, now: now, extraCount: extraCount, writeExtra)) }
        let ticket = acknowledgement.ticket()
        let connection = try await acknowledgement.pool.connection()
        let byHash = command(script, bySHA: true, now: now, extraCount: extraCount, writeExtra)
        var replies = try await connection.send(all: [byHash, acknowledgement.waitCommand])
        if replies[0].isNoScript {
            let bySource = command(script, bySHA: false, now: now, extraCount: extraCount, writeExtra)
            replies = try await connection.send(all: [bySource, acknowledgement.waitCommand])
        }
        if let message = replies[0].errorMessage { throw RedisClientError.serverError(message) }
        let value = try read(replies[0])
        try acknowledgement.check(replies[1], ticket: ticket)
        return value
    }
}
