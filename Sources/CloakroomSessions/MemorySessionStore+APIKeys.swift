import struct Foundation.Date

/// API keys in the memory store: an ``APIKeyTable`` behind a lock of its own, gone on restart
/// like the sessions. Lookups answer without suspending (``ImmediateAPIKeyLookup``).
extension MemorySessionStore: ImmediateAPIKeyLookup {
    public func createKey(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) async throws -> APIKey {
        try createKeyNow(key: key, attributes: attributes, name: name, ttl: ttl)
    }

    /// ``createKey(key:attributes:name:ttl:)`` without suspending.
    public func createKeyNow(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) throws -> APIKey {
        while true {
            let record = try APIKey.new(attributes: attributes, name: name, ttl: ttl, now: clock.now())
            if apiKeys.withLock({ $0.insert(key: key, record) }) {
                APIKeyEvents(created: [record]).report(to: audit)
                return record
            }
        }
    }

    public func lookupKey(key: SessionKey) async throws -> APIKey? {
        try lookupKeyNow(key: key)
    }

    public func lookupKeyNow(key: SessionKey) throws -> APIKey? {
        let now = clock.now(), touchInterval = timeouts.touchInterval  // read before: one lock at a time
        switch apiKeys.withLock({ $0.lookup(key: key, now: now, touchInterval: touchInterval) }) {
        case .live(let record, _):
            return record
        case .expired(let record):
            APIKeyEvents(expired: [record]).report(to: audit)
            return nil
        case .absent:
            return nil
        }
    }

    public func apiKeys(subject: String?) async throws -> [APIKey] {
        let now = clock.now()
        return apiKeys.withLock { $0.keys(subject: subject, now: now) }
    }

    public func revokeKey(handle: String) async throws -> Bool {
        let now = clock.now()
        guard let (_, record) = apiKeys.withLock({ $0.remove(handle: handle) }) else { return false }
        return report(ended: [record], now: now) == 1
    }

    public func revokeKeys(subject: String) async throws -> Int {
        let now = clock.now()
        let removed = apiKeys.withLock { $0.removeAll(subject: subject) }
        return report(ended: removed.map(\.record), now: now)
    }

    /// Reports keys a revoke removed: the live ones as revoked, the rest as expired. Returns
    /// how many were live.
    private func report(ended records: [APIKey], now: Date) -> Int {
        var events = APIKeyEvents()
        for record in records {
            if now < record.expiresAt { events.revoked.append(record) } else { events.expired.append(record) }
        }
        events.report(to: audit)
        return events.revoked.count
    }

    /// Removes expired keys; called by ``sweep()``. Returns how many.
    func sweepKeys(now: Date) -> Int {
        let expired = apiKeys.withLock { $0.sweep(now: now) }
        APIKeyEvents(expired: expired.map(\.record)).report(to: audit)
        return expired.count
    }
}
