import CloakroomSessions

/// Ending sessions, listing them, sweeping and counting.
extension RedisSessionStore {
    public func revoke(key: SessionKey) async throws -> Bool {
        try await SessionMetrics.measure(.revoke) {
            try await guarded {
                try await runAcknowledged(
                    SessionScripts.revokeKey, now: Milliseconds.of(clock.now()), extraCount: 1, { $0.append(hexOf: key) },
                    reading: { try revoked($0, from: "revokeKey") })
            }
        }
    }

    public func revoke(handle: String) async throws -> Bool {
        guard SessionHandle.isWellFormed(handle) else { return false }
        return try await SessionMetrics.measure(.revoke) {
            try await guarded {
                try await runAcknowledged(
                    SessionScripts.revokeHandle, now: Milliseconds.of(clock.now()), extraCount: 1, { $0.append(handle) },
                    reading: { try revoked($0, from: "revokeHandle") })
            }
        }
    }

    public func revokeAll(subject: String) async throws -> Int {
        try await SessionMetrics.measure(.revoke) {
            try await guarded {
                try await runAcknowledged(
                    SessionScripts.revokeSubject, now: Milliseconds.of(clock.now()), extraCount: 1, { $0.append(subject) },
                    reading: { try tally($0, from: "revokeSubject") })
            }
        }
    }

    /// Ends every session under the prefix, found with `SCAN MATCH <prefix>s:*` a thousand
    /// keys at a time (never `FLUSHDB`: other data in the database stays). Sessions created
    /// while it runs may survive it. One `everyone` ending is announced at the end. Runs on one
    /// connection, so that with `min_replicas` one `WAIT` at the end covers every batch.
    public func revokeAll() async throws -> Int {
        try await SessionMetrics.measure(.revoke) {
            try await guarded {
                let now = Milliseconds.of(clock.now())
                let ticket = acknowledgement?.ticket() ?? 0
                let connection = try await writeConnection()
                var cursor = "0"
                var live = 0
                repeat {
                    var scan = RESPCommandBuilder(argumentCount: 6)
                    scan.append("SCAN")
                    scan.append(cursor)
                    scan.append("MATCH")
                    scan.append(keys.sessionPattern)
                    scan.append("COUNT")
                    scan.append(1000)
                    let reply = try await connection.sendExpectingSuccess(scan.buffer)
                    guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let names = parts[1].elements else {
                        throw unexpected(reply, from: "SCAN")
                    }
                    let hexes = names.compactMap { $0.string.flatMap(keys.sessionHex(fromRecordName:)) }
                    if !hexes.isEmpty {
                        let reply = try await run(SessionScripts.revokeKeys, on: connection, now: now, extraCount: hexes.count) { command in
                            for hex in hexes { command.append(hex) }
                        }
                        live += try tally(reply, from: "revokeKeys")
                    }
                    cursor = next
                } while cursor != "0"
                var publish = RESPCommandBuilder(argumentCount: 3)
                publish.append("PUBLISH")
                publish.append(keys.endingsChannel)
                publish.append(EndingObservers.everyonePayload)
                _ = try await connection.sendExpectingSuccess(publish.buffer)
                if let acknowledgement { try await acknowledgement.confirm(on: connection, ticket: ticket) }
                return live
            }
        }
    }

    public func sessions(subject: String?) async throws -> [Session] {
        try await SessionMetrics.measure(.list) {
            try await guarded {
                let now = Milliseconds.of(clock.now())
                var sessions: [Session] = []
                if let subject {
                    let reply = try await run(SessionScripts.listSubject, now: now, extraCount: 1) { $0.append(subject) }
                    guard let fields = reply.elements else { throw unexpected(reply, from: "listSubject") }
                    try appendSessions(fields[...], to: &sessions, from: "listSubject")
                } else {
                    var cursor = "0"
                    repeat {
                        let reply = try await run(SessionScripts.listPage, now: now, extraCount: 1) { $0.append(cursor) }
                        guard let fields = reply.elements, let next = fields.first?.string else { throw unexpected(reply, from: "listPage") }
                        try appendSessions(fields.dropFirst(), to: &sessions, from: "listPage")
                        cursor = next
                    } while cursor != "0"
                    // ZSCAN may return an entry twice while the index rehashes.
                    var seen = Set<String>()
                    sessions = sessions.filter { seen.insert($0.handle).inserted }
                }
                sessions.sort { ($0.createdAt, $0.handle) < ($1.createdAt, $1.handle) }
                return sessions
            }
        }
    }

    /// Deletes sessions past their deadline, found through the expiry index in batches of 500,
    /// and drops index entries of sessions Redis already expired. Returns how many sessions it
    /// deleted (those Redis expired on its own are not counted: nobody saw them end).
    public func sweep() async throws -> Int {
        try await SessionMetrics.measure(.sweep) {
            try await guarded {
                let now = Milliseconds.of(clock.now())
                let batch: Int64 = 500
                var removed = 0
                while true {
                    let reply = try await run(SessionScripts.sweep, now: now, extraCount: 1) { $0.append(batch) }
                    let counts = try tallyAndEndings(reply, from: "sweep")
                    removed += counts.idle + counts.absolute
                    if counts.first < batch { break }
                }
                _ = try await sweepKeys()  // expired API keys go too; the count is of sessions
                return removed
            }
        }
    }

    /// One `ZCOUNT` of the expiry index above now: O(log n) whatever the number of sessions.
    public func liveCount() async throws -> Int {
        try await guarded {
            var count = RESPCommandBuilder(argumentCount: 4)
            count.append("ZCOUNT")
            count.append(keys.expiryIndex)
            count.append("(" + String(Milliseconds.of(clock.now())))
            count.append("+inf")
            let reply = try await pool.connection().sendExpectingSuccess(count.buffer)
            guard case .integer(let live) = reply else { throw unexpected(reply, from: "ZCOUNT") }
            return Int(live)
        }
    }

    // MARK: Replies

    /// A revoke script's `{result, ended...}`: result 1 live, -1/-2 expired (idle/absolute),
    /// 0 none. Reports what it ended.
    private func revoked(_ reply: RESPValue, from script: String) throws -> Bool {
        guard let fields = reply.elements, case .integer(let result)? = fields.first else { throw unexpected(reply, from: script) }
        try reportEnded(fields.dropFirst(), from: script)
        return result == 1
    }

    /// A `{live, idle, absolute, ended...}` tally: reports what it ended, returns the live count.
    func tally(_ reply: RESPValue, from script: String) throws -> Int {
        Int(try tallyAndEndings(reply, from: script).first)
    }

    /// The three counts at the head of a reply, after reporting the endings that follow them.
    private func tallyAndEndings(_ reply: RESPValue, from script: String) throws -> (first: Int64, idle: Int, absolute: Int) {
        guard let fields = reply.elements, fields.count >= 3, case .integer(let first) = fields[0],
            case .integer(let idle) = fields[1], case .integer(let absolute) = fields[2]
        else { throw unexpected(reply, from: script) }
        try reportEnded(fields.dropFirst(3), from: script)
        return (first, Int(idle), Int(absolute))
    }

    /// Flattened `{handle, attributes, c, l, client, User-Agent, ...}` fields as sessions. A
    /// damaged record is left out, as a lookup would find no session there (and delete it).
    private func appendSessions(_ fields: ArraySlice<RESPValue>, to sessions: inout [Session], from script: String) throws {
        guard fields.count % 6 == 0 else { throw RedisClientError.protocolError("unexpected reply from the \(script) script") }
        var index = fields.startIndex
        while index < fields.endIndex {
            do {
                var session = try session(fields[index], fields[index + 1], fields[index + 2], fields[index + 3])
                session.origin = SessionOrigin(client: fields[index + 4].string ?? "", userAgent: fields[index + 5].string)
                sessions.append(session)
            } catch is DamagedRedisRecord {}
            index += 6
        }
    }
}
