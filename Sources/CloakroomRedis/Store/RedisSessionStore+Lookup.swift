import CloakroomSessions
import NIOCore

// The request path's lookup: a read-only `HMGET` in the common case, the lookup script when
// something must be written, and a form that completes on the caller's event loop.
extension RedisSessionStore {
    public func lookup(key: SessionKey) async throws -> Session? {
        try await SessionMetrics.measure(.lookup) {
            try await guarded {
                let now = Milliseconds.of(clock.now())
                let read = try await pool.connection().send(readCommand(key: key))
                if let message = read.errorMessage { throw RedisClientError.serverError(message) }
                switch try readOutcome(read, now: now) {
                case .absent: return nil
                case .live(let session): return session
                case .needsScript: break
                }
                let reply = try await run(SessionScripts.lookup, now: now, extraCount: 2) { command in
                    command.append(touchMilliseconds)
                    command.append(hexOf: key)
                }
                return try lookupResult(reply)
            }
        }
    }

    /// ``lookup(key:)`` for a caller on `eventLoop`, without a task: the commands go out on a
    /// ready connection of that loop when there is one, and the answer comes back on
    /// `eventLoop`. Anything unusual (no ready connection, `NOSCRIPT`) takes the async path.
    public func lookup(key: SessionKey, on eventLoop: any EventLoop) -> EventLoopFuture<Session?> {
        guard let connection = pool.readyConnection(preferring: eventLoop) else {
            return eventLoop.makeFutureWithTask { try await self.lookup(key: key) }
        }
        let started = ContinuousClock.now
        let now = Milliseconds.of(clock.now())
        // `.none`: the script is needed (`NOSCRIPT` is retried on the async path, which loads it).
        let answered = connection.sendFuture(readCommand(key: key)).flatMap { read -> EventLoopFuture<Session??> in
            do {
                if let message = read.errorMessage { throw RedisClientError.serverError(message) }
                switch try self.readOutcome(read, now: now) {
                case .absent: return connection.eventLoop.makeSucceededFuture(.some(nil))
                case .live(let session): return connection.eventLoop.makeSucceededFuture(.some(session))
                case .needsScript: break
                }
            } catch {
                return connection.eventLoop.makeFailedFuture(error)
            }
            let script = self.command(SessionScripts.lookup, bySHA: true, now: now, extraCount: 2) { command in
                command.append(self.touchMilliseconds)
                command.append(hexOf: key)
            }
            return connection.sendFuture(script).flatMapThrowing { reply -> Session?? in
                if reply.isNoScript { return .none }
                if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
                return .some(try self.lookupResult(reply))
            }
        }.hop(to: eventLoop)
        answered.whenComplete { result in
            if case .failure = result { SessionMetrics.record(.lookup, since: started, failed: true) }
            if case .success(.some) = result { SessionMetrics.record(.lookup, since: started, failed: false) }
        }
        return answered.flatMap { found -> EventLoopFuture<Session?> in
            guard let found else { return eventLoop.makeFutureWithTask { try await self.lookup(key: key) } }
            return eventLoop.makeSucceededFuture(found)
        }.flatMapErrorThrowing { error in
            throw self.unavailable(error)
        }
    }

    /// The lookup script's answer: nil when absent, a count of an expiry it cleaned up, or
    /// the session's fields.
    fileprivate func lookupResult(_ reply: RESPValue) throws -> Session? {
        switch reply {
        case .null:
            return nil
        case .integer(let reason):
            reportExpired(reason: reason)
            return nil
        case .array(let fields) where fields.count == 4:
            return try session(fields[0], fields[1], fields[2], fields[3])
        default:
            throw unexpected(reply, from: "lookup")
        }
    }

    // MARK: The read-only lookup

    /// `HMGET <prefix>s:<hex> h u a c l`: a lookup's read without the script. Nearly every
    /// lookup ends here (a plain hash read costs Redis far less than running a script); the
    /// script runs only when something must be written: a touch that is due, an expired
    /// session to clean up, a damaged record to delete.
    func readCommand(key: SessionKey) -> ByteBuffer {
        var command = RESPCommandBuilder(argumentCount: 7, capacity: 160 + keys.prefix.utf8.count)
        command.append("HMGET")
        command.append(recordOf: key, prefix: keys.prefix)
        command.append("h")
        command.append("u")
        command.append("a")
        command.append("c")
        command.append("l")
        return command.buffer
    }

    enum ReadOutcome {
        case absent
        case live(Session)
        /// Expired, due for a touch, or incomplete: the lookup script decides and writes.
        case needsScript
    }

    /// What an `HMGET` reply says, with the same rules as the lookup script: absent when no
    /// field exists; the script when the session expired at `now`, when its touch is due or
    /// when a field is missing or malformed.
    func readOutcome(_ reply: RESPValue, now: Int64) throws -> ReadOutcome {
        guard let fields = reply.elements, fields.count == 5 else { throw unexpected(reply, from: "HMGET") }
        if fields.allSatisfy(\.isNull) { return .absent }
        guard fields.allSatisfy({ !$0.isNull }), let created = fields[3].int64, let lastSeen = fields[4].int64 else {
            return .needsScript
        }
        let deadline = min(lastSeen + idleMilliseconds, created + absoluteMilliseconds)
        if now >= deadline || now - lastSeen >= touchMilliseconds { return .needsScript }
        return .live(try session(fields[0], fields[2], fields[3], fields[4]))
    }
}
