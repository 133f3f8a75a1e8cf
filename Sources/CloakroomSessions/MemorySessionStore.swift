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
public final class MemorySessionStore: SessionStore, ImmediateSessionLookup {
    /// Slots visited per lock acquisition by whole-store walks.
    static let chunkSize = 4096

    private let table: Mutex<MemorySessionTable>
    private let clock: any WallClock
    private let timeouts: SessionTimeouts

    /// - Parameters:
    ///   - maxSessions: the bound, at least 1 (`session.store.memory.max_sessions`).
    ///   - timeouts: idle, absolute and touch-interval settings.
    ///   - clock: where "now" comes from; tests pass a ``ManualWallClock``.
    public init(maxSessions: Int, timeouts: SessionTimeouts, clock: any WallClock = SystemWallClock()) {
        self.table = Mutex(MemorySessionTable(maxSessions: maxSessions, timeouts: timeouts))
        self.clock = clock
        self.timeouts = timeouts
    }

    /// Sessions held right now, including expired ones not yet swept.
    public var count: Int {
        table.withLock { $0.count }
    }

    public func create(key: SessionKey, attributes: JSONObject) async throws -> Session {
        try createNow(key: key, attributes: attributes)
    }

    /// ``create(key:attributes:)`` without suspending.
    public func createNow(key: SessionKey, attributes: JSONObject) throws -> Session {
        guard case .string(let subject)? = attributes["sub"], !subject.isEmpty else {
            throw SessionStoreError.missingSubject
        }
        let encoded = JSONValue.object(attributes).jsonUTF8
        let proposedHandle = SessionHandle.Bits.random()
        let (handle, now) = table.withLock { table in
            let now = clock.now()
            let handle = table.insert(key: key, handle: proposedHandle, subject: subject, attributes: encoded, now: now)
            return (handle, now)
        }
        return Session(
            handle: handle.text, attributes: attributes, createdAt: now, lastSeenAt: now,
            expiresAt: timeouts.expiry(createdAt: now, lastSeenAt: now)
        )
    }

    public func lookup(key: SessionKey) async throws -> Session? {
        try lookupNow(key: key)
    }

    public func lookupNow(key: SessionKey) throws -> Session? {
        let snapshot = table.withLock { $0.lookup(key: key, now: clock.now()) }
        return try snapshot.map(makeSession)
    }

    public func update(key: SessionKey, patch: JSONValue) async throws -> Session? {
        try updateNow(key: key, patch: patch)
    }

    /// ``update(key:patch:)`` without suspending.
    public func updateNow(key: SessionKey, patch: JSONValue) throws -> Session? {
        guard case .object(let members) = patch else {
            throw SessionStoreError.invalidPatch("a session patch must be a JSON object")
        }
        let now = clock.now()
        // Read, merge outside the lock, then write only if nobody changed the attributes in
        // between; otherwise merge again on the newer attributes.
        while true {
            guard let current = table.withLock({ $0.read(key: key, now: now) }) else { return nil }
            if let newSubject = members["sub"] {
                guard newSubject == .string(current.subject) else {
                    throw SessionStoreError.invalidPatch("\"sub\" cannot be changed or removed")
                }
            }
            let merged = JSONValue.object(try attributes(of: current)).applyingMergePatch(patch)
            guard case .object(let mergedAttributes) = merged else {
                preconditionFailure("an object merge patch always yields an object")
            }
            let encoded = merged.jsonUTF8
            let outcome = table.withLock {
                $0.replaceAttributes(key: key, expected: current.attributes, with: encoded, now: now)
            }
            switch outcome {
            case .replaced(let updated):
                return Session(
                    handle: updated.handle.text, attributes: mergedAttributes,
                    createdAt: updated.createdAt, lastSeenAt: updated.lastSeenAt,
                    expiresAt: timeouts.expiry(createdAt: updated.createdAt, lastSeenAt: updated.lastSeenAt)
                )
            case .gone:
                return nil
            case .changed:
                continue
            }
        }
    }

    public func revoke(key: SessionKey) async throws -> Bool {
        table.withLock { $0.remove(key: key, now: clock.now()) }
    }

    public func revoke(handle: String) async throws -> Bool {
        guard let bits = SessionHandle.Bits(text: handle[...]) else { return false }
        return table.withLock { $0.remove(handle: bits, now: clock.now()) }
    }

    public func revokeAll(subject: String) async throws -> Int {
        table.withLock { $0.removeAll(subject: subject, now: clock.now()) }
    }

    /// Ends every session. The table is swapped for an empty one under the lock; counting the
    /// live ones and freeing the old table happen after it is released.
    public func revokeAll() async throws -> Int {
        let (old, now) = table.withLock { table in
            let old = table
            table = MemorySessionTable(maxSessions: old.maxSessions, timeouts: old.timeouts)
            return (old, clock.now())
        }
        return old.liveCount(now: now)
    }

    public func sessions(subject: String?) async throws -> [Session] {
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
        // A user's list is already in creation order; a stable sort keeps it for equal instants.
        snapshots.sort { $0.createdAt < $1.createdAt }
        return try snapshots.map(makeSession)
    }

    public func sweep() async throws -> Int {
        let now = clock.now()
        var removed = 0
        var start = 0
        while true {
            let (count, slotCount) = table.withLock { table in
                (table.sweep(slots: start..<(start + Self.chunkSize), now: now), table.slotCount)
            }
            removed += count
            start += Self.chunkSize
            if start >= slotCount { break }
        }
        return removed
    }

    private func makeSession(_ snapshot: MemorySessionTable.Snapshot) throws -> Session {
        Session(
            handle: snapshot.handle.text, attributes: try attributes(of: snapshot),
            createdAt: snapshot.createdAt, lastSeenAt: snapshot.lastSeenAt,
            expiresAt: timeouts.expiry(createdAt: snapshot.createdAt, lastSeenAt: snapshot.lastSeenAt)
        )
    }

    private func attributes(of snapshot: MemorySessionTable.Snapshot) throws -> JSONObject {
        // The bytes are this store's own serialization of an object, so this cannot fail unless
        // memory is corrupt; report that as an unavailable store rather than crash.
        let value = try? snapshot.attributes.withUnsafeBufferPointer { try JSONValue(parsingUTF8: $0) }
        guard case .object(let object)? = value else {
            throw SessionStoreError.unavailable("corrupt session record in memory store")
        }
        return object
    }
}
