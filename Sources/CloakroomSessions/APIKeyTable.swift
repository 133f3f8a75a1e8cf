import struct Foundation.Date

/// The API keys of one process, indexed by store key, handle and user: what the memory store
/// keeps behind its lock, and what the file store keeps in memory beside its SQLite table so
/// lookups never touch the disk.
///
/// A value type with no locking of its own; its owner holds it behind a lock. Keys are few
/// (one per machine client, not per login), so listings sort what they find and nothing is
/// evicted: a key ends only by revocation or expiry.
package struct APIKeyTable: Sendable {
    /// What a lookup found.
    package enum Lookup: Sendable, Equatable {
        /// The live key; `touched` when this lookup moved `last_used_at` (durable stores write it behind).
        case live(APIKey, touched: Bool)
        /// The key had expired: it is removed now, and its ending is the caller's to report.
        case expired(APIKey)
        case absent
    }

    private var byKey: [SessionKey: APIKey] = [:]
    private var byHandle: [String: SessionKey] = [:]
    private var bySubject: [String: Set<SessionKey>] = [:]

    package init() {}

    /// Keys held, including expired ones not yet swept.
    package var count: Int { byKey.count }

    /// Adds `record` under `key`, replacing a key stored under the same store key. Returns
    /// `false`, changing nothing, when another key already has `record.handle` (the caller
    /// draws another handle).
    package mutating func insert(key: SessionKey, _ record: APIKey) -> Bool {
        if let holder = byHandle[record.handle], holder != key { return false }
        if byKey[key] != nil { _ = remove(key: key) }
        byKey[key] = record
        byHandle[record.handle] = key
        bySubject[record.subject, default: []].insert(key)
        return true
    }

    /// The key for `key` as of `now`, moving `last_used_at` to `now` when it is unset or at
    /// least `touchInterval` old. An expired key is removed and returned as such.
    package mutating func lookup(key: SessionKey, now: Date, touchInterval: Duration) -> Lookup {
        guard var record = byKey[key] else { return .absent }
        if now >= record.expiresAt {
            _ = remove(key: key)
            return .expired(record)
        }
        guard Self.isDue(record.lastUsedAt, now: now, touchInterval: touchInterval) else { return .live(record, touched: false) }
        record.lastUsedAt = now
        byKey[key] = record
        return .live(record, touched: true)
    }

    /// Whether a key last used at `lastUsedAt` is touched by a use at `now`.
    package static func isDue(_ lastUsedAt: Date?, now: Date, touchInterval: Duration) -> Bool {
        guard let lastUsedAt else { return true }
        return now.timeIntervalSince(lastUsedAt) >= touchInterval.timeInterval
    }

    /// The record under `key`, live or not, without touching it.
    package func peek(key: SessionKey) -> APIKey? {
        byKey[key]
    }

    /// Removes the key under `key`; returns it (live or expired: the caller compares
    /// `expiresAt` with now to tell a revoke from a clean-up).
    package mutating func remove(key: SessionKey) -> APIKey? {
        guard let record = byKey.removeValue(forKey: key) else { return nil }
        byHandle.removeValue(forKey: record.handle)
        if var keys = bySubject[record.subject] {
            keys.remove(key)
            bySubject[record.subject] = keys.isEmpty ? nil : keys
        }
        return record
    }

    /// Removes the key with this handle.
    package mutating func remove(handle: String) -> (key: SessionKey, record: APIKey)? {
        guard let key = byHandle[handle], let record = remove(key: key) else { return nil }
        return (key, record)
    }

    /// Removes every key of `subject`.
    package mutating func removeAll(subject: String) -> [(key: SessionKey, record: APIKey)] {
        guard let keys = bySubject[subject] else { return [] }
        return keys.compactMap { key in remove(key: key).map { (key, $0) } }
    }

    /// Removes every key expired at `now`.
    package mutating func sweep(now: Date) -> [(key: SessionKey, record: APIKey)] {
        let expired = byKey.filter { now >= $0.value.expiresAt }.map(\.key)
        return expired.compactMap { key in remove(key: key).map { (key, $0) } }
    }

    /// Live keys at `now`, all or those of `subject`, oldest first (ties by handle).
    package func keys(subject: String?, now: Date) -> [APIKey] {
        let records: [APIKey]
        if let subject {
            records = (bySubject[subject] ?? []).compactMap { byKey[$0] }
        } else {
            records = Array(byKey.values)
        }
        return Self.oldestFirst(records.filter { now < $0.expiresAt })
    }

    /// `keys` in listing order: by creation, then by handle.
    package static func oldestFirst(_ keys: [APIKey]) -> [APIKey] {
        keys.sorted { ($0.createdAt, $0.handle) < ($1.createdAt, $1.handle) }
    }

    /// Every record with its store key (live or not), for writers that copy the table.
    package var entries: [(key: SessionKey, record: APIKey)] {
        byKey.map { ($0.key, $0.value) }
    }
}

extension APIKey {
    /// A new key's record: created `now`, unused, expiring after `ttl`, with a fresh handle.
    /// Throws ``SessionStoreError/missingSubject`` unless `attributes` has a non-empty string `sub`.
    package static func new(attributes: JSONObject, name: String?, ttl: Duration, now: Date) throws -> APIKey {
        _ = try MemorySessionTable.subject(of: attributes)
        return APIKey(
            handle: SessionHandle.random(), name: name, attributes: attributes, createdAt: now, lastUsedAt: nil,
            expiresAt: now.addingTimeInterval(ttl.timeInterval))
    }
}
