@testable import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// The merge loop the memory and file stores share, with writers that lose on purpose.
@Suite struct AttributeMergeLoopTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let key = SessionID.random().key

    /// A table holding one session for alice with `attributes`.
    func table(_ attributes: String = #"{"sub":"alice","n":0}"#) -> MemorySessionTable {
        var table = MemorySessionTable(maxSessions: 10, timeouts: SessionStoreConformance.timeouts)
        _ = table.insert(key: key, handle: .random(), subject: "alice", attributes: Array(attributes.utf8), now: t0)
        return table
    }

    func loop(_ patch: JSONValue) throws -> AttributeMergeLoop {
        AttributeMergeLoop(patch: patch, members: try MemorySessionTable.patchMembers(patch), timeouts: SessionStoreConformance.timeouts)
    }

    @Test func aWriterThatLosesTwiceMergesOnTheNewestAttributes() throws {
        var table = table()
        var writes = 0
        let result = try loop(["role": "admin"]).runNow(
            read: { table.read(key: key, now: t0) },
            write: { current, encoded in
                writes += 1
                // Another writer changes the attributes between this loop's read and write, twice.
                if writes <= 2 {
                    _ = table.replaceAttributes(
                        key: key, expected: current.attributes, with: Array(#"{"sub":"alice","n":\#(writes)}"#.utf8), now: t0)
                }
                return table.replaceAttributes(key: key, expected: current.attributes, with: encoded, now: t0)
            },
            discard: { _, _ in Issue.record("nothing is damaged") })
        let session = try #require(try result.get())
        #expect(writes == 3)
        #expect(session.attributes["role"] == "admin")
        #expect(session.attributes["n"] == 2, "merged on what the other writer left")
    }

    @Test func writersThatAlwaysWinEndItAfterTheBound() throws {
        var table = table()
        var writes = 0
        #expect(throws: AttributeMergeLoop.contended) {
            _ = try loop(["role": "admin"]).runNow(
                read: { table.read(key: key, now: t0) },
                write: { _, _ in
                    writes += 1
                    return .changed
                },
                discard: { _, _ in })
        }
        #expect(writes == AttributeMergeLoop.maxAttempts)
        #expect(table.read(key: key, now: t0).map { String(decoding: $0.attributes, as: UTF8.self) } == #"{"sub":"alice","n":0}"#)
    }

    @Test func theAsyncLoopHasTheSameBound() async throws {
        let loop = try loop(["role": "admin"])
        var table = table()
        let current = table.read(key: key, now: t0)
        await #expect(throws: AttributeMergeLoop.contended) {
            _ = try await loop.run(read: { current }, write: { _, _ in .changed }, discard: { _, _ in })
        }
    }

    @Test func aGoneSessionAndARefusedPatchWriteNothing() throws {
        var writes = 0
        let gone = try loop(["role": "admin"]).runNow(read: { nil }, write: { _, _ in writes += 1; return .gone }, discard: { _, _ in })
        #expect(try gone.get() == nil)
        var table = table()
        let refused = try loop(["sub": "mallory"]).runNow(
            read: { table.read(key: key, now: t0) }, write: { _, _ in writes += 1; return .gone }, discard: { _, _ in })
        #expect(throws: SessionStoreError.self) { try refused.get() }
        #expect(writes == 0)
    }

    @Test func aDamagedRecordIsDiscardedAndIsNoSession() throws {
        var table = table("not json")
        var discarded = 0
        let result = try loop(["role": "admin"]).runNow(
            read: { table.read(key: key, now: t0) }, write: { _, _ in .changed }, discard: { _, _ in discarded += 1 })
        #expect(try result.get() == nil)
        #expect(discarded == 1)
    }
}
