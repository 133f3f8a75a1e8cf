import CloakroomSessions
import struct Foundation.Date

/// Changes made in memory that the writer has not yet committed.
///
/// Changes are recorded per key as *which part of the record to copy to disk*, not as a log
/// of operations: when the writer takes them it reads each key's current record from the
/// table and writes that (or deletes the row when the record is gone). Writing the present
/// state is idempotent, so a batch that fails can be merged back and retried, and any number
/// of changes to one key between two commits cost one row write.
struct PendingWrites {
    enum Change: UInt8, Comparable {
        /// Only `last_seen_at` moved (a lookup after the touch interval): written behind.
        case touch
        /// Anything else: write the whole row, or delete it if the session is gone.
        case row

        static func < (lhs: Change, rhs: Change) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private(set) var changes: [SessionKey: Change] = [:]
    /// The same, for API keys (their own table; a key's store key never names a session).
    private(set) var keyChanges: [SessionKey: Change] = [:]
    /// Every row is to be deleted first (revoke all); `changes` then rewrites what is present.
    private(set) var clearsAll = false
    /// Bumped by every change and never reset: a batch taken at generation `g` holds every
    /// change numbered up to `g`, so "my change is durable" is "a batch at `g` or later committed".
    private(set) var generation = 0

    var hasChanges: Bool { !changes.isEmpty || !keyChanges.isEmpty || clearsAll }

    mutating func mark(_ key: SessionKey, _ change: Change) {
        generation &+= 1
        if let existing = changes[key], existing >= change { return }
        changes[key] = change
    }

    mutating func mark(apiKey key: SessionKey, _ change: Change) {
        generation &+= 1
        if let existing = keyChanges[key], existing >= change { return }
        keyChanges[key] = change
    }

    mutating func markClearAll() {
        generation &+= 1
        clearsAll = true
    }

    /// Everything pending, leaving this empty.
    mutating func take() -> PendingWrites {
        var taken = PendingWrites()
        swap(&taken, &self)
        generation = taken.generation
        return taken
    }

    /// Puts back the changes of a batch that failed to commit. Newer changes to the same keys are kept; both describe "write what is there now".
    mutating func restore(changesOf failed: PendingWrites) {
        if failed.clearsAll { markClearAll() }
        for (key, change) in failed.changes { mark(key, change) }
        for (key, change) in failed.keyChanges { mark(apiKey: key, change) }
    }
}

/// One transaction's worth of row writes, as read from the table when the writer took them.
struct WriteBatch: Sendable {
    var clearsAll = false
    var deletes: [SessionKey] = []
    var upserts: [(key: SessionKey, record: MemorySessionTable.Snapshot, secrets: [UInt8], links: [String])] = []
    var touches: [(key: SessionKey, lastSeenAt: Date)] = []
    var keyDeletes: [SessionKey] = []
    var keyUpserts: [(key: SessionKey, record: APIKey)] = []
    var keyTouches: [(key: SessionKey, lastUsedAt: Date)] = []

    var isEmpty: Bool {
        !clearsAll && deletes.isEmpty && upserts.isEmpty && touches.isEmpty && keyDeletes.isEmpty && keyUpserts.isEmpty
            && keyTouches.isEmpty
    }

    /// Reads the present state of every changed key. Runs under the store's lock, so it only
    /// copies references and a few words per key.
    init(_ pending: PendingWrites, table: MemorySessionTable, keys: APIKeyTable = APIKeyTable()) {
        for (key, change) in pending.keyChanges {
            guard let record = keys.peek(key: key) else {
                keyDeletes.append(key)
                continue
            }
            if change == .touch, let lastUsedAt = record.lastUsedAt {
                keyTouches.append((key, lastUsedAt))
            } else {
                keyUpserts.append((key, record))
            }
        }
        clearsAll = pending.clearsAll
        for (key, change) in pending.changes {
            guard let record = table.peek(key: key) else {
                deletes.append(key)
                continue
            }
            switch change {
            case .row:
                let extra = table.peekSecrets(key: key) ?? ([], [])
                upserts.append((key, record, extra.secrets, extra.links))
            case .touch: touches.append((key, record.lastSeenAt))
            }
        }
    }
}

/// Everything the file store's lock guards: the sessions and what is yet to be written. One
/// lock for both, so a change and its mark are one atomic step (a revoke-all and a create racing
/// could otherwise commit in the wrong order).
struct FileStoreState {
    /// Someone waiting for their change to be committed.
    struct Waiter {
        /// The ``PendingWrites/generation`` that must be durable.
        let generation: Int
        let continuation: CheckedContinuation<Void, any Error>
        /// A session this caller created: taken back out of memory if its batch fails, since
        /// a login that was never acknowledged must not stay usable.
        let created: (key: SessionKey, handle: String)?
    }

    var table: MemorySessionTable
    /// API keys, all of them in memory like the sessions, so key lookups never touch the disk.
    var keys = APIKeyTable()
    var pending = PendingWrites()
    var waiters: [Waiter] = []
    /// The generation of the last batch committed.
    var durableGeneration = 0
    /// The last batch failed to commit, and its changes wait to be written again.
    var writeFailing = false
    var isClosed = false
    /// Transactions committed; tests check that concurrent writes share them.
    var commits = 0

    /// Removes and returns the waiters whose changes are in a batch up to `generation`.
    mutating func takeWaiters(upTo generation: Int) -> [Waiter] {
        guard !waiters.isEmpty else { return [] }
        var done: [Waiter] = []
        waiters.removeAll { waiter in
            guard waiter.generation <= generation else { return false }
            done.append(waiter)
            return true
        }
        return done
    }

    /// Marks the rows of sessions the table removed (revoked, expired, swept) for deletion.
    mutating func absorbRemovals() {
        guard !table.removedKeys.isEmpty else { return }
        for key in table.takeRemovedKeys() { pending.mark(key, .row) }
    }
}
