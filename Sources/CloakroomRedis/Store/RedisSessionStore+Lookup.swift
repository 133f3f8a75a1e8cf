import CloakroomSessions
import NIOCore

// The request path's lookup: a read-only `HMGET` in the common case, the lookup script when
// something must be written, and a form that completes on the caller's event loop.
extension RedisSessionStore {
    /// A damaged record (``DamagedSessionRecord``) is deleted and answers `nil`, as an absent
    /// one does: only a Redis that cannot be reached or understood is an error.
    public func lookup(key: SessionKey) async throws -> Session? {
        try await SessionMetrics.measure(.lookup) {
            try await guarded {
                do {
                    return try await lookupOrDamage(key: key)
                } catch let damaged as DamagedRedisRecord {
                    await discardDamaged(key: key, damaged)
                    return nil
                }
            }
        }
    }

    private func lookupOrDamage(key: SessionKey) async throws -> Session? {
        let now = Milliseconds.of(clock.now())
        let read = try await pool.connection().send(readCommand(key: key))
        if let message = read.errorMessage { throw readError(message) }
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

    /// ``lookup(key:)`` for a caller on `eventLoop`, without a task: the commands go out on a
    /// ready connection of that loop when there is one, and the answer comes back on
    /// `eventLoop`. Anything unusual (no ready connection, `NOSCRIPT`) takes the async path.
    ///
    /// One promise for the answer, completed from the replies' callbacks: a chain of
    /// `flatMap`s made six futures per request. `cache` (the caller's connection's) skips
    /// parsing attributes seen last time; it is used only when called on `eventLoop` (the
    /// cache's) and the reply arrives there too.
    public func lookup(key: SessionKey, on eventLoop: any EventLoop, cache: ParsedAttributesCache?) -> EventLoopFuture<Session?> {
        guard let connection = pool.readyConnection(preferring: eventLoop) else {
            return eventLoop.makeFutureWithTask { try await self.lookup(key: key) }.flatMapErrorThrowing { throw self.unavailable($0) }
        }
        let started = ContinuousClock.now
        let now = Milliseconds.of(clock.now())
        let promise = eventLoop.makePromise(of: Session?.self)
        let onCacheLoop = connection.eventLoop === eventLoop && eventLoop.inEventLoop
        let boundCache = onCacheLoop ? cache.map { NIOLoopBound($0, eventLoop: eventLoop) } : nil
        let answer: @Sendable (Result<Session?, any Error>) -> Void = { result in
            if case .failure(let error as DamagedRedisRecord) = result {
                // Rare: a task hop to delete it, then no session.
                let discarded = eventLoop.makeFutureWithTask { await self.discardDamaged(key: key, error) }
                discarded.whenComplete { _ in
                    SessionMetrics.record(.lookup, since: started, failed: false)
                    promise.succeed(nil)
                }
                return
            }
            SessionMetrics.record(.lookup, since: started, failed: !Self.succeeded(result))
            promise.completeWith(result.mapError { self.unavailable($0) })
        }
        connection.sendFuture(readCommand(key: key)).whenComplete { result in
            do {
                let read = try result.get()
                if let message = read.errorMessage { throw self.readError(message) }
                switch try self.readOutcome(read, now: now, cache: boundCache?.value) {
                case .absent: return answer(.success(nil))
                case .live(let session): return answer(.success(session))
                case .needsScript: break
                }
            } catch {
                return answer(.failure(error))
            }
            let script = self.command(SessionScripts.lookup, bySHA: true, now: now, extraCount: 2) { command in
                command.append(self.touchMilliseconds)
                command.append(hexOf: key)
            }
            connection.sendFuture(script).whenComplete { result in
                do {
                    let reply = try result.get()
                    if reply.isNoScript {
                        // The async path loads the script, and records its own metrics.
                        let retried = eventLoop.makeFutureWithTask { try await self.lookup(key: key) }
                        return promise.completeWith(retried.flatMapErrorThrowing { throw self.unavailable($0) })
                    }
                    if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
                    answer(.success(try self.lookupResult(reply)))
                } catch {
                    answer(.failure(error))
                }
            }
        }
        return promise.futureResult
    }

    private static func succeeded(_ result: Result<Session?, any Error>) -> Bool {
        if case .success = result { return true }
        return false
    }

    /// The lookup script's answer: nil when absent, an expiry it cleaned up (reported), or the
    /// session's fields.
    fileprivate func lookupResult(_ reply: RESPValue) throws -> Session? {
        if reportExpired(reply) { return nil }
        switch reply {
        case .null:
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
    func readOutcome(_ reply: RESPValue, now: Int64, cache: ParsedAttributesCache? = nil) throws -> ReadOutcome {
        guard let fields = reply.elements, fields.count == 5 else { throw unexpected(reply, from: "HMGET") }
        if fields.allSatisfy(\.isNull) { return .absent }
        guard fields.allSatisfy({ !$0.isNull }), let created = fields[3].storedMilliseconds, let lastSeen = fields[4].storedMilliseconds else {
            return .needsScript
        }
        let timeouts = scriptTimeouts
        let deadline = min(lastSeen + timeouts.idle, created + timeouts.absolute)
        if now >= deadline || now - lastSeen >= timeouts.touch { return .needsScript }
        return .live(try session(fields[0], fields[2], fields[3], fields[4], cache: cache))
    }
}
