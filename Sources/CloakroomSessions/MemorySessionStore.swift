import struct Foundation.Date
import Synchronization

/// Sessions in this process's memory: fast, bounded, and gone on restart.
///
/// Holds at most `maxSessions` sessions; creating one more evicts the least recently used
/// (by lookups and creates). Expired sessions are deleted when a lookup finds them and by
/// ``sweep()``; until then they count towards the bound but are never returned.
///
/// - Important: Safe to call from any thread or task. All state sits behind one
///   `Synchronization.Mutex`; critical sections only move indexes and retain buffers. JSON
///   parsing and serialization, merge patching, handle formatting and freeing a cleared store
///   all happen outside the lock, and whole-store walks (``sweep()``, listing everyone) take it
///   once per chunk of slots so a large store never blocks lookups for long.
///
/// Every operation is timed through ``SessionMetrics``; sessions the store ends by itself
/// (expired, evicted) are counted there too, after the lock is released.
public final class MemorySessionStore: SessionStore, ImmediateSessionLookup, SessionEndingSource {
    /// Slots visited per lock acquisition by whole-store walks.
    static let chunkSize = 4096

    let table: Mutex<MemorySessionTable>
    let clock: any WallClock
    /// Logout-token `jti`s and login states already used (``ProviderSessionStore``).
    let replays: ReplayMemory
    let endingObservers = SessionEndingObservers()
    /// The audit log's observers (``SessionAuditSource``).
    let audit = SessionAuditObservers()
    /// API keys (``APIKeyStore``), apart from the sessions: never evicted, never counted by
    /// `max_sessions` or `max_per_user`, untouched by ``revokeAll()``.
    let apiKeys = Mutex(APIKeyTable())

    /// - Parameters:
    ///   - maxSessions: the bound, at least 1 (`session.store.memory.max_sessions`).
    ///   - timeouts: idle, absolute and touch-interval settings.
    ///   - clock: where "now" comes from; tests pass a ``ManualWallClock``.
    public init(maxSessions: Int, timeouts: SessionTimeouts, clock: any WallClock = SystemWallClock()) {
        self.table = Mutex(MemorySessionTable(maxSessions: maxSessions, timeouts: timeouts))
        self.clock = clock
        self.replays = ReplayMemory(clock: clock)
    }

    /// Sessions held right now, including expired ones not yet swept.
    public var count: Int {
        table.withLock { $0.count }
    }

    /// The timeouts in force: the table's, which judges expiry under the same lock.
    var timeouts: SessionTimeouts {
        table.withLock { $0.timeouts }
    }

    public func updateTimeouts(_ timeouts: SessionTimeouts) {
        table.withLock { $0.timeouts = timeouts }
    }

    public func create(key: SessionKey, attributes: JSONObject) async throws -> Session {
        try createNow(key: key, attributes: attributes)
    }

    /// ``create(key:attributes:)`` without suspending.
    public func createNow(key: SessionKey, attributes: JSONObject) throws -> Session {
        try createNow(key: key, attributes: attributes, secrets: [], links: [])
    }

    /// ``createNow(key:attributes:)`` with a private part (encoded) and provider links. The
    /// origin and the per-user limit come from ``SessionRequestContext/current``; sessions the
    /// limit ends go in the same critical section as the new one.
    func createNow(key: SessionKey, attributes: JSONObject, secrets: [UInt8], links: [String]) throws -> Session {
        let subject = try MemorySessionTable.subject(of: attributes)
        let origin = SessionRequestContext.currentOrigin, limit = SessionRequestContext.currentLimit
        return SessionMetrics.measure(.create) {
            let encoded = MemorySessionTable.encode(attributes)
            let proposedHandle = SessionHandle.Bits.random()
            let (handle, now, timeouts, endings) = table.withLock { table in
                let now = clock.now()
                let handle = table.insert(
                    key: key, handle: proposedHandle, subject: subject, attributes: encoded, now: now, secrets: secrets, links: links,
                    origin: origin, limit: limit)
                return (handle, now, table.timeouts, table.takeEndings())
            }
            let session = Session(
                handle: handle.text, attributes: attributes, createdAt: now, lastSeenAt: now,
                expiresAt: timeouts.expiry(createdAt: now, lastSeenAt: now), origin: origin
            )
            deliver(endings, created: session)
            return session
        }
    }

    public func lookup(key: SessionKey) async throws -> Session? {
        try lookupNow(key: key)
    }

    public func lookupNow(key: SessionKey, cache: ParsedAttributesCache?) throws -> Session? {
        try SessionMetrics.measure(.lookup) {
            // The timeouts that judged the lookup give its deadline (a reload may change them).
            let (snapshot, timeouts, endings) = table.withLock { table in
                (table.lookup(key: key, now: clock.now()), table.timeouts, table.takeEndings())
            }
            deliver(endings)
            guard let snapshot else { return nil }
            do {
                return try snapshot.session(timeouts: timeouts, cache: cache)
            } catch is DamagedSessionRecord {
                // Cannot happen with bytes this store wrote itself; handled as every store does.
                discardDamaged(key: key)
                return nil
            }
        }
    }

    /// Deletes a record a lookup could not read (``DamagedSessionRecord``): no session.
    private func discardDamaged(key: SessionKey) {
        let (removed, endings) = table.withLock { ($0.discard(key: key), $0.takeEndings()) }
        guard removed else { return }
        deliver(endings)
        endingObservers.announce(.session(key))
    }

    public func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> {
        try liveKeysNow(among: keys)
    }

    public func liveKeysNow(among keys: [SessionKey]) throws -> Set<SessionKey> {
        let now = clock.now()
        let (live, endings) = table.withLock { table in
            (Set(keys.filter { table.read(key: $0, now: now) != nil }), table.takeEndings())
        }
        deliver(endings)
        return live
    }

    public func update(key: SessionKey, patch: JSONValue) async throws -> Session? {
        try updateNow(key: key, patch: patch)
    }

    /// ``update(key:patch:)`` without suspending.
    public func updateNow(key: SessionKey, patch: JSONValue) throws -> Session? {
        let members = try MemorySessionTable.patchMembers(patch)
        // A rejected patch comes back as a value so the timer does not count it as a store error.
        return try SessionMetrics.measure(.update) { try mergeLoop(key: key, patch: patch, members: members) }.get()
    }

    /// ``AttributeMergeLoop`` over the table, each step under its lock.
    private func mergeLoop(key: SessionKey, patch: JSONValue, members: JSONObject) throws -> Result<Session?, SessionStoreError> {
        let now = clock.now()
        return try AttributeMergeLoop(patch: patch, members: members, timeouts: timeouts).runNow(
            read: {
                let (read, endings) = table.withLock { ($0.read(key: key, now: now), $0.takeEndings()) }
                deliver(endings)
                return read
            },
            write: { current, encoded in
                let (outcome, endings) = table.withLock {
                    ($0.replaceAttributes(key: key, expected: current.attributes, with: encoded, now: now), $0.takeEndings())
                }
                deliver(endings)
                return outcome
            },
            discard: { _, _ in discardDamaged(key: key) })
    }

    public func observeEndings(_ observer: @escaping @Sendable (SessionEnding) -> Void) {
        endingObservers.add(observer)
    }

    public func revoke(key: SessionKey) async throws -> Bool {
        let ended = removing { $0.remove(key: key, now: clock.now()) }
        if ended { endingObservers.announce(.session(key)) }
        return ended
    }

    public func revoke(handle: String) async throws -> Bool {
        guard let bits = SessionHandle.Bits(text: handle[...]) else { return false }
        guard let key = removing({ $0.remove(handle: bits, now: clock.now()) }) else { return false }
        endingObservers.announce(.session(key))
        return true
    }

    public func revokeAll(subject: String) async throws -> Int {
        let count = removing { $0.removeAll(subject: subject, now: clock.now()) }
        if count > 0 { endingObservers.announce(.subject(subject)) }
        return count
    }

    /// Ends every session. The table is swapped for an empty one under the lock; counting the
    /// live ones and freeing the old table happen after it is released.
    public func revokeAll() async throws -> Int {
        SessionMetrics.measure(.revoke) {
            let (old, now, endings) = table.withLock { table in
                let old = table
                table = MemorySessionTable(maxSessions: old.maxSessions, timeouts: old.timeouts)
                table.auditsEndings = old.auditsEndings
                return (old, clock.now(), old.endings)
            }
            let (live, expired) = old.census(now: now, audit: audit.isActive)
            deliver(endings)
            deliver(expired)
            endingObservers.announce(.everyone)
            return live
        }
    }

    public func sessions(subject: String?) async throws -> [Session] {
        try SessionMetrics.measure(.list) {
            let now = clock.now()
            var snapshots: [MemorySessionTable.Snapshot]
            if let subject {
                snapshots = table.withLock { $0.snapshots(subject: subject, now: now) }
            } else {
                snapshots = []
                var start = 0
                while true {
                    let (chunk, slotCount) = table.withLock { table in
                        (table.snapshots(slots: start..<(start + Self.chunkSize), now: now), table.slotCount)
                    }
                    snapshots.append(contentsOf: chunk)
                    start += Self.chunkSize
                    if start >= slotCount { break }
                }
            }
            return try MemorySessionTable.sessionsOldestFirst(snapshots, timeouts: timeouts)
        }
    }

    public func sweep() async throws -> Int {
        SessionMetrics.measure(.sweep) {
            let now = clock.now()
            var removed = 0
            var start = 0
            while true {
                let (count, slotCount, endings) = table.withLock { table in
                    (table.sweep(slots: start..<(start + Self.chunkSize), now: now), table.slotCount, table.takeEndings())
                }
                deliver(endings)
                removed += count
                start += Self.chunkSize
                if start >= slotCount { break }
            }
            _ = sweepKeys(now: now)  // expired API keys go too; the count is of sessions
            return removed
        }
    }

    public func liveCount() async throws -> Int {
        let now = clock.now()
        return table.withLock { $0.liveCount(now: now) }
    }

    /// Nothing to flush: memory sessions end with the process.
    public func close() async throws {}

    /// Runs a revoke under the lock, timed, and reports what it found already expired.
    private func removing<T>(_ body: (inout MemorySessionTable) -> T) -> T {
        SessionMetrics.measure(.revoke) {
            let (result, endings) = table.withLock { table in (body(&table), table.takeEndings()) }
            deliver(endings)
            return result
        }
    }
}
