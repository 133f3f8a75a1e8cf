@testable import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// The table's bookkeeping, at fixed instants. (Mutating calls stay outside `#expect`, whose
/// expansion cannot mutate.)
@Suite struct MemorySessionTableTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func makeTable() -> MemorySessionTable {
        MemorySessionTable(maxSessions: 100, timeouts: SessionStoreConformance.timeouts)
    }

    func insert(_ subject: String, into table: inout MemorySessionTable, at offset: TimeInterval = 0) -> SessionKey {
        let key = SessionID.random().key
        _ = table.insert(key: key, handle: .random(), subject: subject, attributes: Array("{}".utf8), now: t0 + offset)
        return key
    }

    @Test func subjectListStaysOrderedWhenMembersLeave() {
        var table = makeTable()
        var keys: [SessionKey] = []
        for i in 0..<4 { keys.append(insert("alice", into: &table, at: TimeInterval(i))) }
        _ = insert("bob", into: &table)

        var removed = table.remove(key: keys[1], now: t0)  // middle
        #expect(removed)
        #expect(table.snapshots(subject: "alice", now: t0 + 10).map(\.createdAt) == [t0, t0 + 2, t0 + 3])
        removed = table.remove(key: keys[0], now: t0) && table.remove(key: keys[3], now: t0)  // ends
        #expect(removed)
        #expect(table.snapshots(subject: "alice", now: t0 + 10).map(\.createdAt) == [t0 + 2])

        _ = insert("alice", into: &table, at: 20)
        #expect(table.snapshots(subject: "alice", now: t0 + 30).map(\.createdAt) == [t0 + 2, t0 + 20])
        let count = table.removeAll(subject: "alice", now: t0 + 30)
        #expect(count == 2)
        #expect(table.snapshots(subject: "alice", now: t0 + 30).isEmpty)
        #expect(table.snapshots(subject: "bob", now: t0 + 30).count == 1)
    }

    @Test func freedSlotsAreReused() {
        var table = makeTable()
        var keys: [SessionKey] = []
        for _ in 0..<10 { keys.append(insert("alice", into: &table)) }
        #expect(table.slotCount == 10)
        for key in keys.prefix(5) {
            let removed = table.remove(key: key, now: t0)
            #expect(removed)
        }
        for _ in 0..<5 { _ = insert("bob", into: &table) }
        #expect(table.slotCount == 10)
        #expect(table.count == 10)
        #expect(table.snapshots(slots: 0..<100, now: t0).count == 10)
        #expect(table.snapshots(subject: "alice", now: t0).count == 5)
    }

    @Test func removalsReportWhetherTheSessionWasLive() {
        var table = makeTable()
        let live = insert("alice", into: &table)
        let stale = insert("alice", into: &table)
        let later = t0 + 31 * 60
        _ = table.lookup(key: live, now: t0 + 20 * 60)

        let staleRemoved = table.remove(key: stale, now: later)
        #expect(staleRemoved == false, "already expired: removed but not counted")
        #expect(table.count == 1)
        let liveRemoved = table.remove(key: live, now: later)
        #expect(liveRemoved)
        #expect(table.count == 0)
    }

    @Test func replaceIsACompareAndSwap() throws {
        var table = makeTable()
        let key = insert("alice", into: &table)
        let maybeRead = table.read(key: key, now: t0)
        let read = try #require(maybeRead)

        let first = table.replaceAttributes(key: key, expected: read.attributes, with: Array(#"{"a":1}"#.utf8), now: t0)
        guard case .replaced = first else {
            Issue.record("first replace should succeed, got \(first)")
            return
        }
        let second = table.replaceAttributes(key: key, expected: read.attributes, with: Array(#"{"a":2}"#.utf8), now: t0)
        guard case .changed = second else {
            Issue.record("a replace against stale attributes must report a change, got \(second)")
            return
        }
        let after = table.read(key: key, now: t0)
        #expect(after?.attributes == Array(#"{"a":1}"#.utf8))
    }
}
