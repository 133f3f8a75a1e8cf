import struct Foundation.Date

/// Session governance in the table: the per-user limit (`session.max_per_user`) applied inside
/// the insert that needs it, so the ending and the login are one step under the owner's lock;
/// and the audit events of the sessions the table removes.
extension MemorySessionTable {
    /// Makes room for one more session of `subject` under `limit`: drops the user's expired
    /// sessions (ended by their deadline), then ends the least recently used live one until
    /// fewer than `limit` remain. Least recently used is by `lastSeenAt`, as the store records
    /// it (moved at most once per touch interval), the earlier created first on a tie.
    ///
    /// O(the user's sessions): it walks that user's list only.
    mutating func enforceLimit(_ limit: Int, subject: String, now: Date) {
        guard limit > 0, let list = subjects[subject] else { return }
        var live: [Int32] = []
        var slot = list.oldest
        while slot != Self.none {
            let i = Int(slot)
            let next = records[i].subjectNext
            if isExpired(i, now: now) {
                noteEnding(i, .ended(expiryReason(i)))
                remove(slot: slot)
            } else {
                live.append(slot)
            }
            slot = next
        }
        while live.count >= limit {
            // `min` keeps the first of equals: the list runs oldest first.
            let position = live.indices.min { a, b in
                let (x, y) = (records[Int(live[a])], records[Int(live[b])])
                return (x.lastSeenAt, x.createdAt) < (y.lastSeenAt, y.createdAt)
            }!
            let victim = live.remove(at: position)
            noteEnding(Int(victim), .ended(.limit))
            endings.limitedKeys.append(records[Int(victim)].key)
            remove(slot: victim)
        }
    }

    /// Tallies a session the table is about to remove (by the reason it ended, unless a caller
    /// revoked it) and, while auditing, describes it.
    mutating func noteEnding(_ i: Int, _ kind: SessionAuditEvent.Kind) {
        if case .ended(let reason) = kind { endings.record(reason) }
        if auditsEndings { endings.events.append(auditEvent(i, kind)) }
    }

    /// The audit event of the session in slot `i`.
    func auditEvent(_ i: Int, _ kind: SessionAuditEvent.Kind) -> SessionAuditEvent {
        SessionAuditEvent(kind: kind, handle: records[i].handle.text, subject: records[i].subject, client: records[i].origin.client)
    }
}

extension MemorySessionTable.Snapshot {
    /// The `created` audit event of the session this snapshot describes.
    package var createdEvent: SessionAuditEvent {
        SessionAuditEvent(kind: .created, handle: handle.text, subject: subject, client: origin.client)
    }
}
