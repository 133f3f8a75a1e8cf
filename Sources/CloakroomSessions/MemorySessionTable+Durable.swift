import struct Foundation.Date

/// Sessions a table ended by itself, by reason: the tally stores report as
/// `cloakroom_sessions_ended_total` (callers report the endings they cause themselves). With
/// auditing on (``MemorySessionTable/auditsEndings``), also every session the table removed,
/// revoked ones included, as audit events.
package struct Endings: Sendable, Equatable {
    package var idle = 0
    package var absolute = 0
    package var evicted = 0
    package var limit = 0
    /// The sessions behind the counts, and the revoked ones (only while auditing).
    package var events: [SessionAuditEvent] = []
    /// The keys of sessions ended by the per-user limit: announced like revokes, so tunnels
    /// behind them close at once.
    package var limitedKeys: [SessionKey] = []

    package init(idle: Int = 0, absolute: Int = 0, evicted: Int = 0, limit: Int = 0) {
        self.idle = idle
        self.absolute = absolute
        self.evicted = evicted
        self.limit = limit
    }

    package var isEmpty: Bool { idle == 0 && absolute == 0 && evicted == 0 && limit == 0 && events.isEmpty }

    package mutating func record(_ reason: SessionEndReason) {
        switch reason {
        case .idle: idle += 1
        case .absolute: absolute += 1
        case .limit: limit += 1
        default: evicted += 1
        }
    }

    /// Adds `other`'s tally and events to this one.
    package mutating func absorb(_ other: Endings) {
        idle += other.idle
        absolute += other.absolute
        evicted += other.evicted
        limit += other.limit
        events += other.events
        limitedKeys += other.limitedKeys
    }

    /// Sends the tally to ``SessionMetrics``. Call it outside any lock.
    package func report() {
        guard !isEmpty else { return }
        SessionMetrics.sessionsEnded(idle, reason: .idle)
        SessionMetrics.sessionsEnded(absolute, reason: .absolute)
        SessionMetrics.sessionsEnded(evicted, reason: .evicted)
        SessionMetrics.sessionsEnded(limit, reason: .limit)
    }
}

/// The tally of sessions the table ended by itself.
extension MemorySessionTable {
    /// The sessions ended by expiry or eviction since the last call, resetting the tally.
    package mutating func takeEndings() -> Endings {
        defer { endings = Endings() }
        return endings
    }

    /// Which deadline ended an expired session: the earlier of the two.
    func expiryReason(_ i: Int) -> SessionEndReason {
        let idleDeadline = records[i].lastSeenAt.addingTimeInterval(timeouts.idle.timeInterval)
        let absoluteDeadline = records[i].createdAt.addingTimeInterval(timeouts.absolute.timeInterval)
        return idleDeadline < absoluteDeadline ? .idle : .absolute
    }
}

/// What durable stores need beyond the memory store: restoring persisted rows, reading a
/// record as it is (to mirror it to disk), and learning which keys were removed.
extension MemorySessionTable {
    /// Room for `count` sessions without rehashing, so a bulk load grows nothing.
    package mutating func reserveCapacity(_ count: Int) {
        records.reserveCapacity(count)
        slotByKey.reserveCapacity(count)
        slotByHandle.reserveCapacity(count)
        // Users usually hold a few sessions each; a quarter of the count saves nearly all the
        // rehashing of a large load (it was 8% of it) without reserving a slot per session
        // for a table with few users.
        subjects.reserveCapacity(count / 4)
    }

    /// Puts back a persisted session with its own timestamps, without evicting or replacing.
    /// Returns `false` when `key` was already present, which leaves the table inconsistent: a
    /// loader treats it as a damaged file and discards the table.
    package mutating func restore(
        key: SessionKey, handle: StoredHandle, subject: String, attributes: [UInt8],
        createdAt: Date, lastSeenAt: Date, origin: SessionOrigin = .unknown
    ) -> Bool {
        let placed = place(
            key: key, handle: handle.bits, subject: subject, attributes: attributes, createdAt: createdAt, lastSeenAt: lastSeenAt,
            origin: origin)
        return !placed.keyWasPresent
    }

    /// The record under `key` as it is, expired or not, without touching it.
    package func peek(key: SessionKey) -> Snapshot? {
        slotByKey[key].map { snapshot(Int($0)) }
    }

    /// The keys removed since the last call (only collected with ``tracksRemovedKeys`` on).
    package mutating func takeRemovedKeys() -> [SessionKey] {
        guard !removedKeys.isEmpty else { return [] }
        defer { removedKeys = [] }
        return removedKeys
    }

    /// Live sessions at `now`, and the expired ones by reason: what a table being dropped whole
    /// (revoke all) held. With `audit`, the tally carries an event per session: revoked for the
    /// live ones, ended by their deadline for the others.
    package func census(now: Date, audit: Bool = false) -> (live: Int, expired: Endings) {
        var live = 0
        var expired = Endings()
        for i in records.indices where isOccupied(i) {
            let kind: SessionAuditEvent.Kind
            if isExpired(i, now: now) {
                let reason = expiryReason(i)
                expired.record(reason)
                kind = .ended(reason)
            } else {
                live += 1
                kind = .revoked
            }
            if audit { expired.events.append(auditEvent(i, kind)) }
        }
        return (live, expired)
    }
}

extension MemorySessionTable.Snapshot {
    /// The admin handle as text.
    package var handleText: String { handle.text }

    /// The session this snapshot describes. Runs outside the lock: it parses the attributes.
    package func session(timeouts: SessionTimeouts, cache: ParsedAttributesCache? = nil) throws -> Session {
        // A closure literal, not the method itself: a method reference is a partial application,
        // its context (a copy of the snapshot) allocated on the heap on every lookup.
        let attributes = try cache.map { try $0.object(for: self.attributes, parse: { try self.attributeObject() }) } ?? attributeObject()
        return Session(
            handle: cache?.handleText(for: handle) ?? handle.text, attributes: attributes,
            createdAt: createdAt, lastSeenAt: lastSeenAt,
            expiresAt: timeouts.expiry(createdAt: createdAt, lastSeenAt: lastSeenAt), origin: origin
        )
    }

    /// The attributes, parsed. Throws ``DamagedSessionRecord`` when they are not a session's
    /// (an object whose `sub` is the record's subject). The memory store's bytes are its own
    /// serialization of an object it checked, so only the file store (a file edited outside
    /// Cloakroom) can hold such a record; both treat it the same way.
    package func attributeObject() throws -> JSONObject {
        try attributes.withUnsafeBufferPointer { try DamagedSessionRecord.attributes(utf8: $0, subject: subject) }
    }
}

/// Creating and revoking for stores outside this module, which cannot name handle bits.
extension MemorySessionTable {
    /// A handle's bits, for stores outside this module: drawn at random (outside the lock: the
    /// system generator is a system call) or parsed from a stored row.
    package struct StoredHandle: Sendable {
        let bits: SessionHandle.Bits

        package static func random() -> StoredHandle { StoredHandle(bits: .random()) }

        /// `nil` unless `text` is a well-formed handle.
        package init?(text: Substring) {
            guard let bits = SessionHandle.Bits(text: text) else { return nil }
            self.bits = bits
        }

        init(bits: SessionHandle.Bits) { self.bits = bits }
    }

    /// ``insert(key:handle:subject:attributes:now:secrets:links:origin:limit:)`` for a stored
    /// handle; returns the new record (whose handle differs from `handle` only if that one was
    /// taken).
    package mutating func insert(
        key: SessionKey, proposedHandle handle: StoredHandle, subject: String, attributes: [UInt8], now: Date,
        secrets: [UInt8] = [], links: [String] = [], origin: SessionOrigin = .unknown, limit: Int = 0
    ) -> Snapshot {
        let bits = insert(
            key: key, handle: handle.bits, subject: subject, attributes: attributes, now: now, secrets: secrets, links: links,
            origin: origin, limit: limit)
        return snapshot(Int(slotByHandle[bits]!))
    }

    /// Removes the session with the handle spelled `text`. Returns whether it was live; a
    /// malformed handle matches nothing.
    package mutating func remove(handleText text: String, now: Date) -> SessionKey? {
        guard let bits = SessionHandle.Bits(text: text[...]) else { return nil }
        return remove(handle: bits, now: now)
    }
}
