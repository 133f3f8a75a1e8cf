import CloakroomSessions
import NIOCore

/// Session governance in Redis: one create script for every kind of session, with its origin
/// and the per-user limit applied inside it, and the sessions scripts end, reported.
extension RedisSessionStore: SessionAuditSource {
    public func observeAudit(_ observer: @escaping @Sendable ([SessionAuditEvent]) -> Void) {
        audit.add(observer)
    }

    /// Creates a session; `privatePart` (JSON, empty for none) and `links` for single sign-on.
    /// The origin and the per-user limit come from ``SessionRequestContext/current``: the
    /// ``SessionScripts/create`` script ends the sessions the limit pushes out and writes the
    /// new one in one atomic step, however many instances log the same user in at once.
    func create(key: SessionKey, attributes: JSONObject, privatePart: String, links: [String]) async throws -> Session {
        let subject = try MemorySessionTable.subject(of: attributes)
        let text = JSONValue.object(attributes).jsonText
        let origin = SessionRequestContext.current?.origin ?? .unknown
        let limit = SessionRequestContext.current?.maxPerUser ?? 0
        return try await SessionMetrics.measure(.create) {
            try await guarded {
                let now = Milliseconds.of(clock.now())
                var deadline = loginDeadline.deadline()
                measureClockIfDue()
                // A handle is 96 random bits; a collision is all but impossible, and is retried.
                for _ in 0..<4 {
                    let handle = SessionHandle.random()
                    let reply: RESPValue
                    var madeOnPrimary = false
                    do {
                        // With `min_replicas`, acknowledged by the replicas like every login. The
                        // sessions the script ended (`max_per_user`) ended on the primary whatever
                        // the replicas say: reported before their count is checked.
                        reply = try await runAcknowledged(SessionScripts.create, now: now, extraCount: 9 + links.count) { command in
                            command.append(hexOf: key)
                            command.append(handle)
                            command.append(subject)
                            command.append(text)
                            command.append(origin.client)
                            command.append(origin.userAgent)
                            command.append(Int64(limit))
                            command.append(privatePart)
                            command.append(deadline)
                            for link in links { command.append(link) }
                        } reading: { reply in
                            if let fields = reply.elements, case .integer(1)? = fields.first {
                                madeOnPrimary = true
                                try reportEnded(fields.dropFirst(), from: "create")
                            }
                            return reply
                        }
                    } catch RedisClientError.serverError(let message) where message.hasPrefix(LoginDeadline.lateReply) && deadline != 0 {
                        // Refused as late, yet answered while the proxy still waited: Redis's
                        // clock moved, not the login. Measure again; this login goes without.
                        logger.notice("Redis's clock moved: measuring it again for login deadlines")
                        loginDeadline.invalidate()
                        measureClockIfDue()
                        deadline = 0
                        continue
                    } catch let error as RedisClientError {
                        // Made on the primary, then not confirmed (too few replicas, or `WAIT`
                        // itself refused: found by an audit, an ACL without `+wait`): take it
                        // back (best effort), so no session lingers that no cookie was issued for.
                        if madeOnPrimary {
                            _ = try? await run(SessionScripts.revokeKey, now: now, extraCount: 1) { $0.append(hexOf: key) }
                        }
                        throw error
                    }
                    if case .integer(0) = reply { continue }
                    guard let fields = reply.elements, case .integer(1)? = fields.first else { throw unexpected(reply, from: "create") }
                    let date = Milliseconds.date(now)
                    let session = Session(
                        handle: handle, attributes: attributes, createdAt: date, lastSeenAt: date,
                        expiresAt: timeouts.expiry(createdAt: date, lastSeenAt: date), origin: origin)
                    try reportEnded(
                        fields[fields.endIndex...], from: "create",
                        created: SessionAuditEvent(kind: .created, handle: handle, subject: subject, client: origin.client))
                    return session
                }
                throw RedisClientError.protocolError("no free session handle after four draws")
            }
        }
    }

    /// Measures Redis's clock for ``LoginDeadline`` in the background when a measurement is due.
    func measureClockIfDue() {
        guard loginDeadline.claimMeasurement() else { return }
        Task { await measureClock() }
    }

    /// `TIME` on one of the pool's connections; a failure leaves the deadline as it was.
    func measureClock() async {
        let sent = NIODeadline.now()
        var time = RESPCommandBuilder(argumentCount: 1)
        time.append("TIME")
        let reply = try? await pool.connection().send(time.buffer)
        loginDeadline.record(redisMicroseconds: reply.flatMap(LoginDeadline.microseconds(fromTime:)), sent: sent)
    }

    /// Reports the sessions a script ended, from its flattened `{why, handle, sub, client, ...}`
    /// (why: 0 revoked, 1 idle, 2 absolute, 3 limit, 4 damaged): the store's own endings are
    /// counted in the metrics, and every one (with `created`, the session the script made) goes
    /// to the audit observers. A damaged record a script deleted is logged as
    /// ``discardDamaged(key:_:)`` logs one, by handle.
    func reportEnded(_ fields: ArraySlice<RESPValue>, from script: String, created: SessionAuditEvent? = nil) throws {
        guard fields.count % 4 == 0 else { throw unexpected(.array(Array(fields)), from: script) }
        var events: [SessionAuditEvent] = []
        var index = fields.startIndex
        while index < fields.endIndex {
            guard case .integer(let why) = fields[index] else { throw unexpected(.array(Array(fields)), from: script) }
            let kind = Self.kind(why)
            if case .ended(let reason) = kind { SessionMetrics.sessionsEnded(1, reason: reason) }
            if case .ended(.damaged) = kind { logDamagedRecordDeleted(handle: fields[index + 1].string) }
            if audit.isActive {
                events.append(SessionAuditEvent(
                    kind: kind, handle: fields[index + 1].string ?? "", subject: fields[index + 2].string ?? "",
                    client: fields[index + 3].string ?? ""))
            }
            index += 4
        }
        if let created, audit.isActive { events.append(created) }
        audit.report(events)
    }

    /// Whether `reply` is a script's answer for a session it found expired or damaged and
    /// deleted, `{why, handle, sub, client}`; if so, the ending is reported.
    func reportExpired(_ reply: RESPValue) -> Bool {
        guard case .array(let fields) = reply, fields.count == 4, case .integer = fields[0] else { return false }
        // The shape was checked: reporting cannot fail.
        try? reportEnded(fields[...], from: "expiry")
        return true
    }

    private static func kind(_ why: Int64) -> SessionAuditEvent.Kind {
        switch why {
        case 1: .ended(.idle)
        case 2: .ended(.absolute)
        case 3: .ended(.limit)
        case 4: .ended(.damaged)
        default: .revoked
        }
    }
}
