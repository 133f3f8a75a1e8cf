import CloakroomSessions

/// API keys in Redis (layout in ``APIKeyScripts``), shared by every instance on the same server
/// and prefix. Nothing is cached here: every lookup asks Redis, so a key revoked on one
/// instance is refused by all at their next lookup. Creations and revokes follow
/// `min_replicas` like logins and logouts (``runAcknowledged(_:now:extraCount:_:)``); the touch
/// of `last_used_at` does not wait, as a session's does not.
extension RedisSessionStore: APIKeyStore {
    public func createKey(key: SessionKey, attributes: JSONObject, name: String?, ttl: Duration) async throws -> APIKey {
        let subject = try MemorySessionTable.subject(of: attributes)
        let text = JSONValue.object(attributes).jsonText
        return try await guarded {
            let now = Milliseconds.of(clock.now())
            let expires = now + Milliseconds.of(ttl)
            // A handle is 96 random bits; a collision is all but impossible, and is retried.
            for _ in 0..<4 {
                let handle = SessionHandle.random()
                let reply: RESPValue
                var madeOnPrimary = false
                do {
                    reply = try await runAcknowledged(APIKeyScripts.create, now: now, extraCount: 7) { command in
                        command.append(hexOf: key)
                        command.append(handle)
                        command.append(subject)
                        command.append(text)
                        command.append(expires)
                        command.append(name ?? "")
                        command.append(name == nil ? "0" : "1")
                    } reading: { reply in
                        if case .integer(1) = reply { madeOnPrimary = true }
                        return reply
                    }
                } catch let error as RedisClientError {
                    // Made on the primary, then not confirmed (too few replicas, or `WAIT`
                    // refused): take it back (best effort), so no key lingers whose secret
                    // nobody was shown.
                    if madeOnPrimary {
                        _ = try? await run(APIKeyScripts.revokeHandle, now: now, extraCount: 1) { $0.append(handle) }
                    }
                    throw error
                }
                if case .integer(0) = reply { continue }
                guard case .integer(1) = reply else { throw unexpected(reply, from: "keyCreate") }
                let record = APIKey(
                    handle: handle, name: name, attributes: attributes, createdAt: Milliseconds.date(now), lastUsedAt: nil,
                    expiresAt: Milliseconds.date(expires))
                APIKeyEvents(created: [record]).report(to: audit)
                return record
            }
            throw RedisClientError.protocolError("no free API key handle after four draws")
        }
    }

    public func lookupKey(key: SessionKey) async throws -> APIKey? {
        try await guarded {
            let reply = try await run(APIKeyScripts.lookup, now: Milliseconds.of(clock.now()), extraCount: 2) { command in
                command.append(touchMilliseconds)
                command.append(hexOf: key)
            }
            if Self.isNothing(reply) { return nil }
            guard let entry = try apiKeyEntries(reply, from: "keyLookup").first else { return nil }
            if entry.live { return entry.key }
            APIKeyEvents(expired: [entry.key]).report(to: audit)  // found expired, and removed
            return nil
        }
    }

    public func apiKeys(subject: String?) async throws -> [APIKey] {
        try await guarded {
            let reply = try await run(APIKeyScripts.list, now: Milliseconds.of(clock.now()), extraCount: 1) { $0.append(subject ?? "") }
            return APIKeyTable.oldestFirst(try apiKeyEntries(reply, from: "keyList").map(\.key))
        }
    }

    public func revokeKey(handle: String) async throws -> Bool {
        guard SessionHandle.isWellFormed(handle) else { return false }
        return try await guarded {
            try await runAcknowledged(
                APIKeyScripts.revokeHandle, now: Milliseconds.of(clock.now()), extraCount: 1, { $0.append(handle) },
                reading: { reply in Self.isNothing(reply) ? false : report(try apiKeyEntries(reply, from: "keyRevokeHandle")) == 1 })
        }
    }

    public func revokeKeys(subject: String) async throws -> Int {
        try await guarded {
            try await runAcknowledged(
                APIKeyScripts.revokeSubject, now: Milliseconds.of(clock.now()), extraCount: 1, { $0.append(subject) },
                reading: { report(try apiKeyEntries($0, from: "keyRevokeSubject")) })
        }
    }

    /// Removes keys past their deadline through the index of all keys, in batches of 500;
    /// ``sweep()`` calls it. Returns how many.
    func sweepKeys() async throws -> Int {
        try await guarded {
            let now = Milliseconds.of(clock.now())
            let batch: Int64 = 500
            var removed = 0
            while true {
                let reply = try await run(APIKeyScripts.sweep, now: now, extraCount: 1) { $0.append(batch) }
                guard let fields = reply.elements, case .integer(let looked)? = fields.first else { throw unexpected(reply, from: "keySweep") }
                let entries = try apiKeyEntries(.array(Array(fields.dropFirst())), from: "keySweep")
                report(entries)
                removed += entries.count
                if looked < batch { return removed }
            }
        }
    }

    // MARK: Replies

    /// A script's `false`: nil over RESP2, a boolean over RESP3.
    static func isNothing(_ reply: RESPValue) -> Bool {
        switch reply {
        case .null, .boolean(false): return true
        default: return false
        }
    }

    /// One key a script answered, and whether it was live (else it had expired).
    struct APIKeyEntry {
        var live: Bool
        var key: APIKey
    }

    /// A script's flattened eight-field entries (``APIKeyScripts``). A record whose attributes
    /// cannot be read is left out, as if absent.
    func apiKeyEntries(_ reply: RESPValue, from script: String) throws -> [APIKeyEntry] {
        guard let fields = reply.elements, fields.count % 8 == 0 else { throw unexpected(reply, from: script) }
        var entries: [APIKeyEntry] = []
        var index = 0
        while index < fields.count {
            defer { index += 8 }
            guard case .integer(let status) = fields[index], let handle = fields[index + 1].string,
                let createdAt = fields[index + 5].int64, let expiresAt = fields[index + 7].int64
            else { throw unexpected(reply, from: script) }
            guard let text = fields[index + 4].string, let attributes = try? DamagedSessionRecord.attributes(text: text) else { continue }
            let lastUsedAt = fields[index + 6].int64.map(Milliseconds.date)
            entries.append(APIKeyEntry(live: status == 1, key: APIKey(
                handle: handle, name: fields[index + 3].string, attributes: attributes, createdAt: Milliseconds.date(createdAt),
                lastUsedAt: lastUsedAt, expiresAt: Milliseconds.date(expiresAt))))
        }
        return entries
    }

    /// Reports the keys a revoke or the sweep removed (metrics, audit): the live ones as
    /// revoked, the others as expired. Returns how many were live.
    @discardableResult
    private func report(_ entries: [APIKeyEntry]) -> Int {
        var events = APIKeyEvents()
        for entry in entries {
            if entry.live { events.revoked.append(entry.key) } else { events.expired.append(entry.key) }
        }
        events.report(to: audit)
        return events.revoked.count
    }
}
