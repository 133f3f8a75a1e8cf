@testable import CloakroomSessions
import Foundation
import Testing

@Suite struct MemorySessionTableTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    var table = MemorySessionTable(maxSessions: 100, timeouts: SessionStoreConformance.timeouts)

    mutating func insert(_ subject: String, at offset: TimeInterval = 0) -> SessionKey {
        let key = SessionID.random().key
        _ = table.insert(key: key, handle: .random(), subject: subject, attributes: Array("{}".utf8), now: t0 + offset)
        return key
    }

    @Test mutating func subjectListStaysOrderedWhenMembersLeave() {
        let keys = (0..<4).map { insert("alice", at: TimeInterval($0)) }
        _ = insert("bob")
        #expect(table.remove(key: keys[1], now: t0))  // middle
        #expect(table.snapshots(subject: "alice", now: t0 + 10).map(\.createdAt) == [t0, t0 + 2, t0 + 3])
        #expect(table.remove(key: keys[0], now: t0))  // oldest
        #expect(table.remove(key: keys[3], now: t0))  // newest
        #expect(table.snapshots(subject: "alice", now: t0 + 10).map(\.createdAt) == [t0 + 2])
        _ = insert("alice", at: 20)
        #expect(table.snapshots(subject: "alice", now: t0 + 30).map(\.createdAt) == [t0 + 2, t0 + 20])
        #expect(table.removeAll(subject: "alice", now: t0 + 30) == 2)
        #expect(table.snapshots(subject: "alice", now: t0 + 30).isEmpty)
        #expect(table.snapshots(subject: "bob", now: t0 + 30).count == 1)
    }

    @Test mutating func freedSlotsAreReused() {
        let keys = (0..<10).map { _ in insert("alice") }
        #expect(table.slotCount == 10)
        for key in keys.prefix(5) { #expect(table.remove(key: key, now: t0)) }
        for _ in 0..<5 { _ = insert("bob") }
        #expect(table.slotCount == 10)
        #expect(table.count == 10)
        #expect(table.snapshots(slots: 0..<100, now: t0).count == 10)
    }

    @Test mutating func removalsReportWhetherTheSessionWasLive() {
        let live = insert("alice")
        let stale = insert("alice")
        let later = t0 + 31 * 60
        _ = table.lookup(key: live, now: t0 + 20 * 60)
        #expect(table.remove(key: stale, now: later) == false, "already expired: removed but not counted")
        #expect(table.count == 1)
        #expect(table.remove(key: live, now: later))
        #expect(table.count == 0)
    }

    @Test mutating func replaceIsACompareAndSwap() throws {
        let key = insert("alice")
        let read = try #require(table.read(key: key, now: t0))
        guard case .replaced = table.replaceAttributes(key: key, expected: read.attributes, with: Array(#"{"a":1}"#.utf8), now: t0) else {
            Issue.record("first replace should succeed")
            return
        }
        guard case .changed = table.replaceAttributes(key: key, expected: read.attributes, with: Array(#"{"a":2}"#.utf8), now: t0) else {
            Issue.record("replace against stale attributes must report a change")
            return
        }
        #expect(table.read(key: key, now: t0)?.attributes == Array(#"{"a":1}"#.utf8))
    }
}
