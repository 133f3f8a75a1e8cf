import CloakroomSessions
import struct Foundation.Date

/// API keys in the file store: all of them in memory (``FileStoreState/keys``) so lookups never
/// touch the disk, every change in the `api_keys` table. Creations and revokes return once
/// committed, in the same group commits as the sessions'; `last_used_at` is written behind like
/// a session's `last_seen_at`, at most once per touch interval.
extension FileSessionStore: ImmediateAPIKeyLookup {
    public func createKey(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) async throws -> APIKey {
        while true {
            let proposal = try APIKey.new(attributes: attributes, name: name, ttl: ttl, now: core.clock.now())
            let created = try await core.apply { state -> (value: APIKey?, created: (key: SessionKey, handle: String)?) in
                guard state.keys.insert(key: key, proposal) else { return (nil, nil) }  // handle taken: draw again
                state.pending.mark(apiKey: key, .row)
                return (proposal, (key, proposal.handle))
            }
            if let created {
                APIKeyEvents(created: [created]).report(to: core.audit)
                return created
            }
        }
    }

    public func lookupKey(key: SessionKey) async throws -> APIKey? {
        try lookupKeyNow(key: key)
    }

    public func lookupKeyNow(key: SessionKey) throws -> APIKey? {
        let found = try core.withState { state -> APIKeyTable.Lookup in
            let found = state.keys.lookup(key: key, now: core.clock.now(), touchInterval: state.table.timeouts.touchInterval)
            switch found {
            case .live(_, touched: true): state.pending.mark(apiKey: key, .touch)  // written behind
            case .expired: state.pending.mark(apiKey: key, .row)
            case .live, .absent: break
            }
            return found
        }
        switch found {
        case .live(let record, _):
            return record
        case .expired(let record):
            APIKeyEvents(expired: [record]).report(to: core.audit)
            return nil
        case .absent:
            return nil
        }
    }

    public func apiKeys(subject: String?) async throws -> [APIKey] {
        try core.withState { $0.keys.keys(subject: subject, now: core.clock.now()) }
    }

    public func revokeKey(handle: String) async throws -> Bool {
        let removed = try await core.apply(durableBefore: true) { state -> (value: APIKey?, created: (key: SessionKey, handle: String)?) in
            guard let (key, record) = state.keys.remove(handle: handle) else { return (nil, nil) }
            state.pending.mark(apiKey: key, .row)
            return (record, nil)
        }
        guard let removed else { return false }
        return report(ended: [removed]) == 1
    }

    public func revokeKeys(subject: String) async throws -> Int {
        let removed = try await core.apply(durableBefore: true) { state -> (value: [APIKey], created: (key: SessionKey, handle: String)?) in
            let removed = state.keys.removeAll(subject: subject)
            for (key, _) in removed { state.pending.mark(apiKey: key, .row) }
            return (removed.map(\.record), nil)
        }
        return report(ended: removed)
    }

    /// Reports keys a revoke removed: the live ones as revoked, the rest as expired. Returns
    /// how many were live.
    private func report(ended records: [APIKey]) -> Int {
        let now = core.clock.now()
        var events = APIKeyEvents()
        for record in records {
            if now < record.expiresAt { events.revoked.append(record) } else { events.expired.append(record) }
        }
        events.report(to: core.audit)
        return events.revoked.count
    }

    /// Removes expired keys from memory and marks their rows; ``sweep()`` waits for the
    /// commit. Returns how many.
    func sweepKeys(now: Date) throws -> Int {
        let expired = try core.withState { state in
            let expired = state.keys.sweep(now: now)
            for (key, _) in expired { state.pending.mark(apiKey: key, .row) }
            return expired.map(\.record)
        }
        APIKeyEvents(expired: expired).report(to: core.audit)
        return expired.count
    }
}
