/// The memory store's audit events and the announcements of sessions the per-user limit ended.
extension MemorySessionStore: SessionAuditSource {
    public func observeAudit(_ observer: @escaping @Sendable ([SessionAuditEvent]) -> Void) {
        audit.add(observer)
        table.withLock { $0.auditsEndings = true }
    }

    /// Reports what the table ended (metrics, audit events) and, with `created`, the session
    /// just made; announces the sessions the limit ended, so tunnels behind them close at once.
    /// Call it after the lock is released.
    func deliver(_ endings: Endings, created: Session? = nil) {
        if endings.isEmpty && (created == nil || !audit.isActive) { return }
        endings.report()
        if audit.isActive {
            var events = endings.events
            if let created {
                events.append(SessionAuditEvent(kind: .created, handle: created.handle, subject: created.subject, client: created.origin.client))
            }
            audit.report(events)
        }
        for key in endings.limitedKeys { endingObservers.announce(.session(key)) }
    }
}
