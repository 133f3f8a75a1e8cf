import struct Foundation.Date

/// The memory store's data, as a plain value with no locking and no clock: the store holds it in
/// a mutex and passes `now` in, so every rule here is testable with fixed instants.
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
struct MemorySessionTable: Sendable {
    /// What a read takes out of the table (under the lock) to build a ``Session`` (outside it).
    struct Snapshot: Sendable {
        var handle: SessionHandle.Bits
        var subject: String
        var attributes: [UInt8]
        var createdAt: Date
        var lastSeenAt: Date
    }

    enum ReplaceOutcome {
        case replaced(Snapshot)
        /// No live session for the key any more.
        case gone
        /// The attributes changed since they were read; read again and retry.
        case changed
    }

    private struct Record {
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
    }

    private struct SubjectList {
        var oldest: Int32
        var newest: Int32
    }

    private static let none: Int32 = -1
    /// `lruPrev` of a slot on the free list.
    private static let freeSlot: Int32 = -2

    let maxSessions: Int
    let timeouts: SessionTimeouts

    private var records: [Record] = []
    private var freeHead: Int32 = none
    private var lruHead: Int32 = none
    private var lruTail: Int32 = none
    private var slotByKey: [SessionKey: Int32] = [:]
    private var slotByHandle: [SessionHandle.Bits: Int32] = [:]
    private var subjects: [String: SubjectList] = [:]

    init(maxSessions: Int, timeouts: SessionTimeouts) {
        precondition(maxSessions > 0 && maxSessions < Int(Int32.max), "maxSessions must be in 1..<2^31")
        self.maxSessions = maxSessions
        self.timeouts = timeouts
    }

    /// Sessions held, live or expired but not yet swept.
    var count: Int { slotByKey.count }

    /// Slots allocated; ``sweep(slots:now:)`` walks `0..<slotCount` in chunks.
    var slotCount: Int { records.count }

    // MARK: Creating

    /// Stores a new session, replacing any session already under `key` and evicting the least
    /// recently used one when the table is full. Returns the handle it got, which differs from
    /// `handle` only if that one was taken.
    mutating func insert(key: SessionKey, handle: SessionHandle.Bits, subject: String, attributes: [UInt8], now: Date) -> SessionHandle.Bits {
        if let existing = slotByKey[key] { remove(slot: existing) }
        if slotByKey.count >= maxSessions, lruTail != Self.none { remove(slot: lruTail) }
        var handle = handle
        while slotByHandle[handle] != nil { handle = .random() }

        let sharedSubject: String
        if let index = subjects.index(forKey: subject) {
            sharedSubject = subjects[index].key
        } else {
            sharedSubject = subject
        }
        let record = Record(
            key: key, handle: handle, createdAt: now, lastSeenAt: now, attributes: attributes,
            subject: sharedSubject, lruPrev: Self.none, lruNext: Self.none,
            subjectPrev: Self.none, subjectNext: Self.none
        )
        let slot: Int32
        if freeHead != Self.none {
            slot = freeHead
            freeHead = records[Int(slot)].lruNext
            records[Int(slot)] = record
        } else {
            slot = Int32(records.count)
            records.append(record)
        }
        slotByKey[key] = slot
        slotByHandle[handle] = slot
        linkAtLRUHead(slot)
        appendToSubject(slot, subject: sharedSubject)
        return handle
    }

    // MARK: Reading

    /// A lookup: `nil` (and the record deleted) when absent or expired at `now`; otherwise
    /// marks the session most recently used and writes `lastSeenAt = now` if at least the
    /// touch interval has passed since the last write.
    mutating func lookup(key: SessionKey, now: Date) -> Snapshot? {
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
    mutating func read(key: SessionKey, now: Date) -> Snapshot? {
        liveSlot(key: key, now: now).map { snapshot(Int($0)) }
    }

    /// Live sessions of `subject`, oldest first.
    func snapshots(subject: String, now: Date) -> [Snapshot] {
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
    func snapshots(slots range: Range<Int>, now: Date) -> [Snapshot] {
        var result: [Snapshot] = []
        for i in range.clamped(to: records.indices) where isOccupied(i) && !isExpired(i, now: now) {
            result.append(snapshot(i))
        }
        return result
    }

    /// Sessions still live at `now`.
    func liveCount(now: Date) -> Int {
        records.indices.reduce(0) { $0 + (isOccupied($1) && !isExpired($1, now: now) ? 1 : 0) }
    }

    // MARK: Writing

    /// Replaces the attributes if they are still `expected` (compare-and-swap, so the merge can
    /// be computed outside the lock). Does not count as activity.
    mutating func replaceAttributes(key: SessionKey, expected: [UInt8], with attributes: [UInt8], now: Date) -> ReplaceOutcome {
        guard let slot = liveSlot(key: key, now: now) else { return .gone }
        let i = Int(slot)
        guard records[i].attributes == expected else { return .changed }
        records[i].attributes = attributes
        return .replaced(snapshot(i))
    }

    // MARK: Removing

    /// Removes the session under `key`. Returns whether it was live.
    mutating func remove(key: SessionKey, now: Date) -> Bool {
        guard let slot = slotByKey[key] else { return false }
        return removeCountingLive(slot: slot, now: now)
    }

    /// Removes the session with this handle. Returns whether it was live.
    mutating func remove(handle: SessionHandle.Bits, now: Date) -> Bool {
        guard let slot = slotByHandle[handle] else { return false }
        return removeCountingLive(slot: slot, now: now)
    }

    /// Removes every session of `subject`. Returns how many were live.
    mutating func removeAll(subject: String, now: Date) -> Int {
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
    mutating func sweep(slots range: Range<Int>, now: Date) -> Int {
        var removed = 0
        for i in range.clamped(to: records.indices) where isOccupied(i) && isExpired(i, now: now) {
            remove(slot: Int32(i))
            removed += 1
        }
        return removed
    }

    // MARK: Internals

    private func isOccupied(_ i: Int) -> Bool {
        records[i].lruPrev != Self.freeSlot
    }

    private func isExpired(_ i: Int, now: Date) -> Bool {
        now >= timeouts.expiry(createdAt: records[i].createdAt, lastSeenAt: records[i].lastSeenAt)
    }

    private func snapshot(_ i: Int) -> Snapshot {
        let record = records[i]
        return Snapshot(
            handle: record.handle, subject: record.subject, attributes: record.attributes,
            createdAt: record.createdAt, lastSeenAt: record.lastSeenAt
        )
    }

    /// The slot of the live session under `key`, deleting it if it has expired.
    private mutating func liveSlot(key: SessionKey, now: Date) -> Int32? {
        guard let slot = slotByKey[key] else { return nil }
        guard !isExpired(Int(slot), now: now) else {
            remove(slot: slot)
            return nil
        }
        return slot
    }

    private mutating func removeCountingLive(slot: Int32, now: Date) -> Bool {
        let live = !isExpired(Int(slot), now: now)
        remove(slot: slot)
        return live
    }

    private mutating func remove(slot: Int32) {
        let i = Int(slot)
        slotByKey.removeValue(forKey: records[i].key)
        slotByHandle.removeValue(forKey: records[i].handle)
        unlinkFromLRU(slot)
        unlinkFromSubject(slot)
        records[i].attributes = []
        records[i].subject = ""
        records[i].lruPrev = Self.freeSlot
        records[i].lruNext = freeHead
        freeHead = slot
    }

    private mutating func linkAtLRUHead(_ slot: Int32) {
        let i = Int(slot)
        records[i].lruPrev = Self.none
        records[i].lruNext = lruHead
        if lruHead != Self.none { records[Int(lruHead)].lruPrev = slot } else { lruTail = slot }
        lruHead = slot
    }

    private mutating func unlinkFromLRU(_ slot: Int32) {
        let i = Int(slot)
        let prev = records[i].lruPrev
        let next = records[i].lruNext
        if prev != Self.none { records[Int(prev)].lruNext = next } else { lruHead = next }
        if next != Self.none { records[Int(next)].lruPrev = prev } else { lruTail = prev }
        records[i].lruPrev = Self.none
        records[i].lruNext = Self.none
    }

    private mutating func appendToSubject(_ slot: Int32, subject: String) {
        let i = Int(slot)
        if let list = subjects[subject] {
            records[i].subjectPrev = list.newest
            records[Int(list.newest)].subjectNext = slot
            subjects[subject] = SubjectList(oldest: list.oldest, newest: slot)
        } else {
            subjects[subject] = SubjectList(oldest: slot, newest: slot)
        }
    }

    private mutating func unlinkFromSubject(_ slot: Int32) {
        let i = Int(slot)
        let prev = records[i].subjectPrev
        let next = records[i].subjectNext
        if prev != Self.none { records[Int(prev)].subjectNext = next }
        if next != Self.none { records[Int(next)].subjectPrev = prev }
        if prev == Self.none && next == Self.none {
            subjects.removeValue(forKey: records[i].subject)
        } else if prev == Self.none || next == Self.none {
            let subject = records[i].subject
            var list = subjects[subject]!
            if prev == Self.none { list.oldest = next }
            if next == Self.none { list.newest = prev }
            subjects[subject] = list
        }
        records[i].subjectPrev = Self.none
        records[i].subjectNext = Self.none
    }
}
