import CloakroomSessions
import struct Foundation.Date
import NIOPosix

/// Durable sessions (`session.store.file.path`): every session in memory for lookups, every
/// change in a SQLite file so sessions survive restarts and crashes.
///
/// - Lookups never touch the disk: they answer from an in-memory ``MemorySessionTable``, so
///   ``lookupNow(key:)`` is as fast as the memory store's.
/// - The file is read once, at open, and only written after: rows another program changes
///   while the store is open are not seen, and a later write of that session may undo them.
/// - Logins, revokes and attribute updates return only once committed (`synchronous=FULL`, WAL).
///   Concurrent ones share a transaction and its fsync (group commit; see ``FileStoreCore``).
/// - A lookup that moves `last_seen_at` is written behind, at most about a touch interval
///   later, and always before ``close()`` returns. A crash can lose only those touches, which
///   makes a session look idle somewhat earlier after restart, never later.
/// - The file is locked (`<path>.lock`) from ``open(path:timeouts:clock:logger:)`` until
///   ``close()``: a second store on the same path, in any process, fails with
///   ``FileStoreError/locked(_:)``.
///
/// The store is unbounded: it holds every live session (about 300 bytes of memory each plus
/// attributes). A failed write surfaces as ``SessionStoreError/unavailable(_:)`` to the callers
/// waiting on it and is retried; a login whose write failed is withdrawn.
///
/// - Important: Safe to call from any thread or task. Disk I/O runs on the store's own
///   `NIOThreadPool` (two threads), never on an event loop or the cooperative pool.
public final class FileSessionStore: SessionStore, ImmediateSessionLookup, SessionEndingSource {
    /// Slots visited per lock acquisition by whole-store walks.
    static let chunkSize = 4096
    /// The table bound: none that matters (slots are 32-bit indexes).
    static let unbounded = Int(Int32.max) - 1

    let core: FileStoreCore
    let writer: Task<Void, Never>
    let flusher: Task<Void, Never>
    let lock: FileLock
    let threadPool: NIOThreadPool
    var endingObservers: SessionEndingObservers { core.endingObservers }
    /// Single sign-on `state`s and logout-token `jti`s already used (``ProviderSessionStore``).
    let replays: ReplayMemory

    init(core: FileStoreCore, writer: Task<Void, Never>, flusher: Task<Void, Never>, lock: FileLock, threadPool: NIOThreadPool) {
        self.replays = ReplayMemory(clock: core.clock)
        self.core = core
        self.writer = writer
        self.flusher = flusher
        self.lock = lock
        self.threadPool = threadPool
    }

    /// The database file.
    public var path: String { core.path }

    /// Only memory changes: the file holds creation and last-activity times, never deadlines.
    public func updateTimeouts(_ timeouts: SessionTimeouts) {
        core.state.withLock { $0.table.timeouts = timeouts }
    }

    /// Transactions committed since open (for tests of group commit).
    package var commitCount: Int { core.state.withLock { $0.commits } }

    public func create(key: SessionKey, attributes: JSONObject) async throws -> Session {
        try await create(key: key, attributes: attributes, secrets: [], links: [])
    }

    public func lookup(key: SessionKey) async throws -> Session? {
        try lookupNow(key: key)
    }

    public func lookupNow(key: SessionKey, cache: ParsedAttributesCache?) throws -> Session? {
        try SessionMetrics.measure(.lookup) {
            // The timeouts that judged the lookup give its deadline (a reload may change them).
            let (snapshot, timeouts) = try core.withState { state -> (MemorySessionTable.Snapshot?, SessionTimeouts) in
                let now = core.clock.now()
                let snapshot = state.table.lookup(key: key, now: now)
                // It moved last_seen_at: written behind by the flusher, never waited for.
                if let snapshot, snapshot.lastSeenAt == now { state.pending.mark(key, .touch) }
                return (snapshot, state.table.timeouts)
            }
            guard let snapshot else { return nil }
            do {
                return try snapshot.session(timeouts: timeouts, cache: cache)
            } catch let damage as DamagedSessionRecord {
                discardDamaged(key: key, handle: snapshot.handleText, damage)
                return nil
            }
        }
    }

    /// Deletes a record whose attributes cannot be read (a file edited outside Cloakroom): the
    /// lookup answers no session, as the SPEC asks, instead of failing every request that
    /// presents its cookie. Removed from memory at once; the row's deletion is written by the
    /// writer, woken for it but not waited for (a lookup never waits on the disk). Logged by
    /// handle, never the ID.
    func discardDamaged(key: SessionKey, handle: String, _ damage: DamagedSessionRecord) {
        // The table notes the ending (`damaged`): counted and audited when the lock is let go.
        let removed = (try? core.withState { $0.table.discard(key: key) }) ?? false
        guard removed else { return }
        core.wakeWriter()
        core.logger.error("damaged session record deleted", metadata: [
            "handle": "\(handle)", "path": "\(core.path)", "why": "\(damage.why)",
        ])
        endingObservers.announce(.session(key))
    }

    public func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> {
        try liveKeysNow(among: keys)
    }

    public func liveKeysNow(among keys: [SessionKey]) throws -> Set<SessionKey> {
        try core.withState { state in
            let now = core.clock.now()
            return Set(keys.filter { state.table.read(key: $0, now: now) != nil })
        }
    }

    public func update(key: SessionKey, patch: JSONValue) async throws -> Session? {
        let members = try MemorySessionTable.patchMembers(patch)
        // A rejected patch comes back as a value so the timer does not count it as a store error.
        return try await SessionMetrics.measure(.update) {
            try await mergeLoop(key: key, patch: patch, members: members)
        }.get()
    }

    /// ``AttributeMergeLoop`` over the core's table; each write waits for its commit.
    private func mergeLoop(key: SessionKey, patch: JSONValue, members: JSONObject) async throws -> Result<Session?, SessionStoreError> {
        let now = core.clock.now()
        return try await AttributeMergeLoop(patch: patch, members: members, timeouts: core.timeouts).run(
            read: { try core.withState { $0.table.read(key: key, now: now) } },
            write: { current, encoded in
                try await core.apply { state in
                    let outcome = state.table.replaceAttributes(key: key, expected: current.attributes, with: encoded, now: now)
                    if case .replaced = outcome { state.pending.mark(key, .row) }
                    return (outcome, nil)
                }
            },
            discard: { current, damage in discardDamaged(key: key, handle: current.handleText, damage) })
    }

    // Revokes: the table records the keys it removes and ``FileStoreCore`` marks their rows, so
    // each of these waits for the deletes to commit.

    public func observeEndings(_ observer: @escaping @Sendable (SessionEnding) -> Void) {
        endingObservers.add(observer)
    }

    public func revoke(key: SessionKey) async throws -> Bool {
        let ended = try await SessionMetrics.measure(.revoke) {
            try await core.apply(durableBefore: true) { state in (state.table.remove(key: key, now: core.clock.now()), nil) }
        }
        if ended { endingObservers.announce(.session(key)) }
        return ended
    }

    public func revoke(handle: String) async throws -> Bool {
        let key = try await SessionMetrics.measure(.revoke) {
            try await core.apply(durableBefore: true) { state in (state.table.remove(handleText: handle, now: core.clock.now()), nil) }
        }
        guard let key else { return false }
        endingObservers.announce(.session(key))
        return true
    }

    public func revokeAll(subject: String) async throws -> Int {
        let count = try await SessionMetrics.measure(.revoke) {
            try await core.apply(durableBefore: true) { state in (state.table.removeAll(subject: subject, now: core.clock.now()), nil) }
        }
        if count > 0 { endingObservers.announce(.subject(subject)) }
        return count
    }

    /// Ends every session: swaps in an empty table and deletes every row in the next batch.
    /// Counting the old table and freeing it happen outside the lock.
    public func revokeAll() async throws -> Int {
        try await SessionMetrics.measure(.revoke) {
            let (old, now) = try await core.apply { state in
                var empty = MemorySessionTable(maxSessions: Self.unbounded, timeouts: state.table.timeouts)
                empty.tracksRemovedKeys = true
                empty.auditsEndings = state.table.auditsEndings
                let old = state.table
                state.table = empty
                state.pending.markClearAll()
                return ((old, core.clock.now()), nil)
            }
            let (live, expired) = old.census(now: now, audit: core.audit.isActive)
            core.deliver(expired)
            endingObservers.announce(.everyone)
            return live
        }
    }

    public func sessions(subject: String?) async throws -> [Session] {
        try SessionMetrics.measure(.list) {
            let now = core.clock.now()
            var snapshots: [MemorySessionTable.Snapshot]
            if let subject {
                snapshots = try core.withState { $0.table.snapshots(subject: subject, now: now) }
            } else {
                snapshots = []
                var start = 0
                while true {
                    let (chunk, slotCount) = try core.withState { state in
                        (state.table.snapshots(slots: start..<(start + Self.chunkSize), now: now), state.table.slotCount)
                    }
                    snapshots.append(contentsOf: chunk)
                    start += Self.chunkSize
                    if start >= slotCount { break }
                }
            }
            return try MemorySessionTable.sessionsOldestFirst(snapshots, timeouts: core.timeouts)
        }
    }

    /// Deletes expired sessions from memory a chunk at a time, then waits for their rows'
    /// deletion to commit.
    public func sweep() async throws -> Int {
        try await SessionMetrics.measure(.sweep) {
            let now = core.clock.now()
            var removed = 0
            var start = 0
            while true {
                let (count, slotCount) = try core.withState { state in
                    (state.table.sweep(slots: start..<(start + Self.chunkSize), now: now), state.table.slotCount)
                }
                removed += count
                start += Self.chunkSize
                if start >= slotCount { break }
            }
            let keysRemoved = try sweepKeys(now: now)  // expired API keys go too; the count is of sessions
            if removed > 0 || keysRemoved > 0 { try await core.awaitDurable() }
            return removed
        }
    }

    /// The health check's answer: unavailable while writes fail (found by an audit: `/healthz`
    /// said ok while every login and revoke was answered 503), so a load balancer stops
    /// sending logins to an instance that cannot keep them. While they fail, the check retries
    /// them itself, so it is healthy again as soon as the file takes them (found by an audit:
    /// 503 for up to 30 s after the disk had room again, until the next write or flush).
    public func liveCount() async throws -> Int {
        if try core.withState({ $0.writeFailing && $0.pending.hasChanges }) { try await core.awaitDurable() }
        let now = core.clock.now()
        return try core.withState { state in state.table.liveCount(now: now) }
    }
}
