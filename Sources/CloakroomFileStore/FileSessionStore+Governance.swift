import CloakroomSessions

/// Session governance in the file store: one create for every kind of session, with its origin
/// and the per-user limit; audit events.
extension FileSessionStore: SessionAuditSource {
    /// Creates a session (with a private part and provider links for single sign-on). The
    /// origin and the per-user limit come from ``SessionRequestContext/current``: the sessions
    /// the limit ends leave the table in the same critical section as the new one arrives, and
    /// their rows are deleted in the same transaction that writes it. The call returns once
    /// that transaction is committed; if it fails, the login is withdrawn (the store is
    /// unavailable) and the sessions it pushed out stay ended.
    func create(key: SessionKey, attributes: JSONObject, secrets: [UInt8], links: [String]) async throws -> Session {
        let subject = try MemorySessionTable.subject(of: attributes)
        let links = links.map { $0.replacingOccurrences(of: "\n", with: " ") }
        let origin = SessionRequestContext.current?.origin ?? .unknown
        let limit = SessionRequestContext.current?.maxPerUser ?? 0
        return try await SessionMetrics.measure(.create) {
            let encoded = MemorySessionTable.encode(attributes)
            let proposal = MemorySessionTable.StoredHandle.random()
            let (record, timeouts) = try await core.apply { state in
                let record = state.table.insert(
                    key: key, proposedHandle: proposal, subject: subject, attributes: encoded, now: core.clock.now(),
                    secrets: secrets, links: links, origin: origin, limit: limit)
                state.pending.mark(key, .row)
                return ((record, state.table.timeouts), (key, record.handleText))
            }
            if core.audit.isActive { core.audit.report([record.createdEvent]) }
            return Session(
                handle: record.handleText, attributes: attributes, createdAt: record.createdAt, lastSeenAt: record.lastSeenAt,
                expiresAt: timeouts.expiry(createdAt: record.createdAt, lastSeenAt: record.lastSeenAt), origin: origin
            )
        }
    }

    /// Registers `observer`; the first one also gets the sessions found expired when the file
    /// was opened (they ended while no proxy was running).
    public func observeAudit(_ observer: @escaping @Sendable ([SessionAuditEvent]) -> Void) {
        core.audit.add(observer)
        _ = try? core.withState { $0.table.auditsEndings = true }
        let atOpen = core.eventsAtOpen.withLock { events in
            defer { events = [] }
            return events
        }
        if !atOpen.isEmpty { observer(atOpen) }
    }
}

extension FileStoreCore {
    /// Reports what the table ended: metrics, audit events, and an announcement of each session
    /// the per-user limit ended (tunnels behind it close at once). Outside the lock.
    func deliver(_ endings: Endings) {
        guard !endings.isEmpty else { return }
        endings.report()
        audit.report(endings.events)
        for key in endings.limitedKeys { endingObservers.announce(.session(key)) }
    }
}
