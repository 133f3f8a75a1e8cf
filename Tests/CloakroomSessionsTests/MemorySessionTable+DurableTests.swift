@testable import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// The tally of sessions a table ends by itself, and what durable stores build on.
@Suite struct MemorySessionTableDurableTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let timeouts = SessionStoreConformance.timeouts  // idle 30 min, absolute 12 h

    func insert(_ subject: String, into table: inout MemorySessionTable, at offset: TimeInterval = 0) -> SessionKey {
        let key = SessionID.random().key
        _ = table.insert(key: key, proposedHandle: .random(), subject: subject, attributes: Array(#"{"sub":"x"}"#.utf8), now: t0 + offset)
        return key
    }

    @Test func endingsTellIdleFromAbsolute() {
        var table = MemorySessionTable(maxSessions: 100, timeouts: timeouts)
        let idle = insert("a", into: &table)
        let absolute = insert("b", into: &table)
        // Keep `absolute` active every 20 minutes until its 12 hours run out.
        for step in 1...35 { _ = table.lookup(key: absolute, now: t0 + Double(step) * 20 * 60) }  // to 11 h 40
        let none = table.takeEndings()
        #expect(none.isEmpty, "nothing has been found expired yet")
        let late = t0 + 12 * 3600 + 1
        let foundIdle = table.lookup(key: idle, now: late)
        let foundAbsolute = table.lookup(key: absolute, now: late)
        #expect(foundIdle == nil && foundAbsolute == nil)
        let endings = table.takeEndings()
        #expect(endings == Endings(idle: 1, absolute: 1))
        let afterwards = table.takeEndings()
        #expect(afterwards.isEmpty, "taking resets the tally")
    }

    @Test func sweepsRevokesOfExpiredAndEvictionsAreTallied() {
        var table = MemorySessionTable(maxSessions: 3, timeouts: timeouts)
        let a = insert("a", into: &table)
        _ = insert("b", into: &table)
        _ = insert("c", into: &table, at: 20 * 60)
        _ = insert("d", into: &table, at: 21 * 60)  // full: evicts the least recently used, `a`
        let evicted = table.takeEndings()
        #expect(evicted == Endings(evicted: 1))
        #expect(table.peek(key: a) == nil)

        let later = t0 + 31 * 60  // `b` idle past its deadline; `c` and `d` live
        let removed = table.sweep(slots: 0..<10, now: later)
        #expect(removed == 1)
        let swept = table.takeEndings()
        #expect(swept == Endings(idle: 1))

        let revokedLive = table.removeAll(subject: "c", now: later)
        #expect(revokedLive == 1)
        let revoked = table.takeEndings()
        #expect(revoked.isEmpty, "a revoke of a live session is the caller's to report")
    }

    @Test func removedKeysAreTrackedOnlyWhenAsked() {
        var table = MemorySessionTable(maxSessions: 10, timeouts: timeouts)
        let a = insert("a", into: &table)
        _ = table.remove(key: a, now: t0)
        let untracked = table.takeRemovedKeys()
        #expect(untracked.isEmpty)

        table.tracksRemovedKeys = true
        let b = insert("b", into: &table)
        let c = insert("c", into: &table)
        _ = insert("keep", into: &table)
        _ = table.remove(key: b, now: t0)
        _ = table.removeAll(subject: "c", now: t0)
        let removed = table.takeRemovedKeys()
        #expect(Set(removed) == [b, c])
        let again = table.takeRemovedKeys()
        #expect(again.isEmpty)
    }

    @Test func restoreKeepsTimestampsAndRefusesADuplicateKey() throws {
        var table = MemorySessionTable(maxSessions: 10, timeouts: timeouts)
        let key = SessionID.random().key
        let handle = SessionHandle.random()
        let restored = table.restore(
            key: key, handle: try #require(.init(text: handle[...])), subject: "alice",
            attributes: Array(#"{"sub":"alice"}"#.utf8), createdAt: t0, lastSeenAt: t0 + 60
        )
        #expect(restored)
        let session = try #require(try table.peek(key: key)?.session(timeouts: timeouts))
        #expect(session.handle == handle)
        #expect(session.createdAt == t0 && session.lastSeenAt == t0 + 60)
        #expect(session.expiresAt == t0 + 60 + 30 * 60)

        #expect(MemorySessionTable.StoredHandle(text: "not a handle") == nil)
        let again = table.restore(key: key, handle: .random(), subject: "x", attributes: [], createdAt: t0, lastSeenAt: t0)
        #expect(!again, "a key already present")
    }

    @Test func censusCountsLiveAndExpiredByReason() {
        var table = MemorySessionTable(maxSessions: 10, timeouts: timeouts)
        _ = insert("a", into: &table)
        _ = insert("b", into: &table, at: 10 * 60)
        let census = table.census(now: t0 + 35 * 60)
        #expect(census.live == 1)
        #expect(census.expired == Endings(idle: 1))
    }
}
