import struct Foundation.Date

/// The memory store's data, as a plain value with no locking and no clock: the store holds it in
/// a mutex and passes `now` in, so every rule here is testable with fixed instants. The file
/// store keeps its sessions in one too (hence `package` access), with removal tracking on.
///
/// Layout, chosen for a small per-session footprint at a million sessions:
/// - `records` is an array of slots. A session's slot never moves while it lives; freed slots
///   are chained into a free list and reused, so there are no per-session objects.
/// - Three doubly linked lists run through the slots by `Int32` index: the LRU list (most
///   recently used at the head), one list per subject (oldest first), and the free list
///   (through `lruNext`).
/// - Attributes are kept as their compact JSON text, a single allocation, and parsed back
///   outside the lock when a session is returned.
/// - `slotByKey`, `slotByHandle` and `subjects` index the slots, so every operation on one
///   session is O(1) and every operation on one user is O(that user's sessions).
///
/// Sessions the table ends by itself (found expired, swept, evicted) are tallied in
/// ``endings``; the owner takes the tally under its lock and reports it after releasing it.
package struct MemorySessionTable: Sendable {
    /// What a read takes out of the table (under the lock) to build a ``Session`` (outside it).
    package struct Snapshot: Sendable {
        var handle: SessionHandle.Bits
        package var subject: String
        package var attributes: [UInt8]
        package var createdAt: Date
        package var lastSeenAt: Date
        package var origin: SessionOrigin
    }

    package enum ReplaceOutcome: Sendable {
        case replaced(Snapshot)
        /// No live session for the key any more.
        case gone
        /// The attributes changed since they were read; read again and retry.
        case changed
    }

    // Storage is internal rather than private only so the table's extensions in other files
    // (lists, durable-store support) can reach it; nothing outside the table touches it.
    struct Record {
        var key: SessionKey
        var handle: SessionHandle.Bits
        var createdAt: Date
        var lastSeenAt: Date
        var attributes: [UInt8]
        /// Shares its storage with the `subjects` key, so a long subject is stored once per user.
        var subject: String
        var lruPrev: Int32
        var lruNext: Int32
        var subjectPrev: Int32
        var subjectNext: Int32
        /// The private part (``SessionSecrets``) as compact JSON; empty when the session has none.
        var secrets: [UInt8] = []
        /// The identity-provider sessions this one came from (see ``ProviderSessionStore``).
        var links: [String] = []
        /// Where the session came from (client address, `User-Agent`).
        var origin: SessionOrigin = .unknown
    }

    struct SubjectList {
        var oldest: Int32
        var newest: Int32
    }

    static let none: Int32 = -1
    /// `lruPrev` of a slot on the free list.
    static let freeSlot: Int32 = -2

    package let maxSessions: Int
    /// Judges every record on every call, so a reload's new timeouts hold for sessions made
    /// before it too (``SessionStore/updateTimeouts(_:)``).
    package var timeouts: SessionTimeouts

    var records: [Record] = []
    var freeHead: Int32 = none
    var lruHead: Int32 = none
    var lruTail: Int32 = none
    var slotByKey: [SessionKey: Int32] = [:]
    var slotByHandle: [SessionHandle.Bits: Int32] = [:]
    var subjects: [String: SubjectList] = [:]
    /// Sessions by identity-provider link (`MemorySessionTable+Secrets.swift`).
    var keysByLink: [String: Set<SessionKey>] = [:]

    /// Sessions ended by expiry, eviction or the per-user limit since the last
    /// ``takeEndings()``.
    package internal(set) var endings = Endings()
    /// When set, every session removed is also described in ``Endings/events`` (for the audit
    /// log): the owner turns it on once an audit observer is registered.
    package var auditsEndings = false
    /// When set, the key of every removed session is appended to ``removedKeys`` (durable
    /// stores mirror removals to disk from it). Off for the memory store.
    package var tracksRemovedKeys = false
    package internal(set) var removedKeys: [SessionKey] = []

    package init(maxSessions: Int, timeouts: SessionTimeouts) {
        precondition(maxSessions > 0 && maxSessions < Int(Int32.max), "maxSessions must be in 1..<2^31")
        self.maxSessions = maxSessions
        self.timeouts = timeouts
    }

    /// Sessions held, live or expired but not yet swept.
    package var count: Int { slotByKey.count }

    /// Slots allocated; ``sweep(slots:now:)`` walks `0..<slotCount` in chunks.
    package var slotCount: Int { records.count }

    // MARK: Creating

    /// Stores a new session, replacing any session already under `key`; first, with a `limit`,
    /// ends the user's least recently used sessions until fewer than `limit` remain
    /// (``enforceLimit(_:subject:now:)``), and evicts the least recently used session of all
    /// when the table is full. Returns the handle it got, which differs from `handle` only if
    /// that one was taken.
    mutating func insert(
        key: SessionKey, handle: SessionHandle.Bits, subject: String, attributes: [UInt8], now: Date,
        secrets: [UInt8] = [], links: [String] = [], origin: SessionOrigin = .unknown, limit: Int = 0
    ) -> SessionHandle.Bits {
        if let existing = slotByKey[key] { remove(slot: existing) }
        if limit > 0 { enforceLimit(limit, subject: subject, now: now) }
        if slotByKey.count >= maxSessions, lruTail != Self.none {
            let i = Int(lruTail)
            noteEnding(i, .ended(isExpired(i, now: now) ? expiryReason(i) : .evicted))
            remove(slot: lruTail)
        }
        let handle = place(
            key: key, handle: handle, subject: subject, attributes: attributes, createdAt: now, lastSeenAt: now, origin: origin
        ).handle
        if !secrets.isEmpty || !links.isEmpty { attach(secrets: secrets, links: links, key: key) }
        return handle
    }

    /// Puts a record in a free slot and links it into every index. Returns the handle it got,
    /// and whether `key` was already present (callers make sure it is not; a loader treats it
    /// as a damaged file and discards the table).
    ///
    /// One hash per index: this runs a million times when the file store loads.
    @discardableResult
    mutating func place(
        key: SessionKey, handle: SessionHandle.Bits, subject: String, attributes: [UInt8],
        createdAt: Date, lastSeenAt: Date, origin: SessionOrigin = .unknown
    ) -> (handle: SessionHandle.Bits, keyWasPresent: Bool) {
        let reusesFreeSlot = freeHead != Self.none
        let slot = reusesFreeSlot ? freeHead : Int32(records.count)
        var handle = handle
        while let holder = slotByHandle.updateValue(slot, forKey: handle) {
            slotByHandle[handle] = holder  // taken: put it back and draw another
            handle = .random()
        }
        let keyWasPresent = slotByKey.updateValue(slot, forKey: key) != nil

        // Join the subject's list, sharing the stored subject string.
        let sharedSubject: String
        var subjectPrev = Self.none
        if let index = subjects.index(forKey: subject) {
            sharedSubject = subjects.keys[index]
            subjectPrev = subjects.values[index].newest
            subjects.values[index].newest = slot
        } else {
            sharedSubject = subject
            subjects[subject] = SubjectList(oldest: slot, newest: slot)
        }
        let record = Record(
            key: key, handle: handle, createdAt: createdAt, lastSeenAt: lastSeenAt, attributes: attributes,
            subject: sharedSubject, lruPrev: Self.none, lruNext: Self.none,
            subjectPrev: subjectPrev, subjectNext: Self.none, origin: origin
        )
        if reusesFreeSlot {
            freeHead = records[Int(slot)].lruNext
            records[Int(slot)] = record
        } else {
            records.append(record)
        }
        if subjectPrev != Self.none { records[Int(subjectPrev)].subjectNext = slot }
        linkAtLRUHead(slot)
        return (handle, keyWasPresent)
    }

    // MARK: Reading

    /// A lookup: `nil` (and the record deleted) when absent or expired at `now`; otherwise
    /// marks the session most recently used and writes `lastSeenAt = now` if at least the
    /// touch interval has passed since the last write.
    package mutating func lookup(key: SessionKey, now: Date) -> Snapshot? {
        guard let slot = liveSlot(key: key, now: now) else { return nil }
        let i = Int(slot)
        if now.timeIntervalSince(records[i].lastSeenAt) >= timeouts.touchInterval.timeInterval {
            records[i].lastSeenAt = now
        }
        unlinkFromLRU(slot)
        linkAtLRUHead(slot)
        return snapshot(i)
    }

    /// The session without recording activity; `nil` (and the record deleted) when absent or
    /// expired.
    package mutating func read(key: SessionKey, now: Date) -> Snapshot? {
        liveSlot(key: key, now: now).map { snapshot(Int($0)) }
    }

    /// Live sessions of `subject`, oldest first.
    package func snapshots(subject: String, now: Date) -> [Snapshot] {
        guard let list = subjects[subject] else { return [] }
        var result: [Snapshot] = []
        var slot = list.oldest
        while slot != Self.none {
            let i = Int(slot)
            if !isExpired(i, now: now) { result.append(snapshot(i)) }
            slot = records[i].subjectNext
        }
        return result
    }

    /// Live sessions in the slots of `range` (clamped to the slots that exist), in slot order.
    package func snapshots(slots range: Range<Int>, now: Date) -> [Snapshot] {
        var result: [Snapshot] = []
        for i in range.clamped(to: records.indices) where isOccupied(i) && !isExpired(i, now: now) {
            result.append(snapshot(i))
        }
        return result
    }

    /// Sessions still live at `now`.
    package func liveCount(now: Date) -> Int {
        records.indices.reduce(0) { $0 + (isOccupied($1) && !isExpired($1, now: now) ? 1 : 0) }
    }

    // MARK: Writing

    /// Replaces the attributes if they are still `expected` (compare-and-swap, so the merge can
    /// be computed outside the lock). Does not count as activity.
    package mutating func replaceAttributes(key: SessionKey, expected: [UInt8], with attributes: [UInt8], now: Date) -> ReplaceOutcome {
        guard let slot = liveSlot(key: key, now: now) else { return .gone }
        let i = Int(slot)
        guard records[i].attributes == expected else { return .changed }
        records[i].attributes = attributes
        return .replaced(snapshot(i))
    }

    // MARK: Removing

    /// Removes the session under `key`. Returns whether it was live.
    package mutating func remove(key: SessionKey, now: Date) -> Bool {
        guard let slot = slotByKey[key] else { return false }
        return removeCountingLive(slot: slot, now: now)
    }

    /// Removes a record a lookup could not read (``DamagedSessionRecord``); its ending is
    /// `damaged`, in the endings and the audit log like any other. False when it is gone.
    package mutating func discard(key: SessionKey) -> Bool {
        guard let slot = slotByKey[key] else { return false }
        noteEnding(Int(slot), .ended(.damaged))
        remove(slot: slot)
        return true
    }

    /// Removes the session with this handle; returns its key when a live one was removed.
    mutating func remove(handle: SessionHandle.Bits, now: Date) -> SessionKey? {
        guard let slot = slotByHandle[handle] else { return nil }
        let key = records[Int(slot)].key
        return removeCountingLive(slot: slot, now: now) ? key : nil
    }

    /// Removes every session of `subject`. Returns how many were live.
    package mutating func removeAll(subject: String, now: Date) -> Int {
        guard let list = subjects[subject] else { return 0 }
        var live = 0
        var slot = list.oldest
        while slot != Self.none {
            let next = records[Int(slot)].subjectNext
            if removeCountingLive(slot: slot, now: now) { live += 1 }
            slot = next
        }
        return live
    }

    /// Removes the expired sessions in the slots of `range`. Returns how many.
    package mutating func sweep(slots range: Range<Int>, now: Date) -> Int {
        var removed = 0
        for i in range.clamped(to: records.indices) where isOccupied(i) && isExpired(i, now: now) {
            noteEnding(i, .ended(expiryReason(i)))
            remove(slot: Int32(i))
            removed += 1
        }
        return removed
    }

    // MARK: Internals

    func isOccupied(_ i: Int) -> Bool {
        records[i].lruPrev != Self.freeSlot
    }

    func isExpired(_ i: Int, now: Date) -> Bool {
        now >= timeouts.expiry(createdAt: records[i].createdAt, lastSeenAt: records[i].lastSeenAt)
    }

    func snapshot(_ i: Int) -> Snapshot {
        let record = records[i]
        return Snapshot(
            handle: record.handle, subject: record.subject, attributes: record.attributes,
            createdAt: record.createdAt, lastSeenAt: record.lastSeenAt, origin: record.origin
        )
    }

    /// The slot of the live session under `key`, deleting it if it has expired.
    private mutating func liveSlot(key: SessionKey, now: Date) -> Int32? {
        guard let slot = slotByKey[key] else { return nil }
        guard !isExpired(Int(slot), now: now) else {
            noteEnding(Int(slot), .ended(expiryReason(Int(slot))))
            remove(slot: slot)
            return nil
        }
        return slot
    }

    /// Removes a slot at a caller's request; an expired session removed this way ended by
    /// itself and is tallied, a live one was revoked.
    private mutating func removeCountingLive(slot: Int32, now: Date) -> Bool {
        let i = Int(slot)
        let live = !isExpired(i, now: now)
        noteEnding(i, live ? .revoked : .ended(expiryReason(i)))
        remove(slot: slot)
        return live
    }

    mutating func remove(slot: Int32) {
        let i = Int(slot)
        if tracksRemovedKeys { removedKeys.append(records[i].key) }
        slotByKey.removeValue(forKey: records[i].key)
        slotByHandle.removeValue(forKey: records[i].handle)
        unlinkFromLRU(slot)
        unlinkFromSubject(slot)
        if !records[i].links.isEmpty { unlinkFromProviders(i) }
        records[i].secrets = []
        records[i].attributes = []
        records[i].subject = ""
        records[i].origin = .unknown
        records[i].lruPrev = Self.freeSlot
        records[i].lruNext = freeHead
        freeHead = slot
    }
}
