@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// The writer's bookkeeping, without a file: what a batch holds and how a failed one returns.
@Suite struct PendingWritesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aRowChangeOutranksATouch() {
        var pending = PendingWrites()
        let key = StoreFixture.newKey()
        pending.mark(key, .touch)
        pending.mark(key, .row)
        pending.mark(key, .touch)
        #expect(pending.changes == [key: .row])
        #expect(pending.generation == 3, "every mark counts, even one that changes nothing")
    }

    @Test func takingLeavesNothingButTheGeneration() {
        var pending = PendingWrites()
        pending.mark(StoreFixture.newKey(), .row)
        pending.markClearAll()
        let taken = pending.take()
        #expect(taken.hasChanges && taken.clearsAll && taken.generation == 2)
        #expect(!pending.hasChanges)
        #expect(pending.generation == 2, "generations never go back")
    }

    @Test func aFailedBatchMergesBackUnderNewerChanges() {
        var pending = PendingWrites()
        let (a, b) = (StoreFixture.newKey(), StoreFixture.newKey())
        pending.mark(a, .touch)
        pending.markClearAll()
        let failed = pending.take()
        pending.mark(a, .row)
        pending.mark(b, .touch)
        pending.restore(changesOf: failed)
        #expect(pending.changes == [a: .row, b: .touch])
        #expect(pending.clearsAll)
        #expect(pending.generation > failed.generation)
    }

    @Test func aBatchWritesWhatTheTableHoldsNow() throws {
        var table = MemorySessionTable(maxSessions: 10, timeouts: SessionStoreConformance.timeouts)
        let (created, touched, gone) = (StoreFixture.newKey(), StoreFixture.newKey(), StoreFixture.newKey())
        for key in [created, touched, gone] {
            _ = table.insert(key: key, proposedHandle: .random(), subject: "alice", attributes: Array("{}".utf8), now: t0)
        }
        _ = table.lookup(key: touched, now: t0 + 120)
        _ = table.remove(key: gone, now: t0)
        var pending = PendingWrites()
        pending.mark(created, .row)
        pending.mark(touched, .touch)
        pending.mark(gone, .row)

        let batch = WriteBatch(pending, table: table)
        #expect(!batch.clearsAll)
        #expect(batch.upserts.map(\.key) == [created])
        #expect(batch.touches.map(\.key) == [touched])
        #expect(batch.touches.first?.lastSeenAt == t0 + 120)
        #expect(batch.deletes == [gone])
    }

    @Test func waitersAreReleasedUpToACommittedGeneration() async throws {
        var state = FileStoreState(table: MemorySessionTable(maxSessions: 10, timeouts: SessionStoreConformance.timeouts))
        // Continuations need a suspended task; count resumptions instead.
        try await withThrowingTaskGroup(of: Int.self) { group in
            let registered = AsyncStream<CheckedContinuation<Void, any Error>>.makeStream()
            for _ in 0..<3 {
                group.addTask {
                    try await withCheckedThrowingContinuation { registered.continuation.yield($0) }
                    return 1
                }
            }
            var iterator = registered.stream.makeAsyncIterator()
            for generation in 1...3 {
                let continuation = try #require(await iterator.next())
                state.waiters.append(.init(generation: generation, continuation: continuation, created: nil))
            }
            let done = state.takeWaiters(upTo: 2)
            #expect(done.map(\.generation) == [1, 2])
            #expect(state.waiters.map(\.generation) == [3])
            for waiter in done + state.takeWaiters(upTo: 3) { waiter.continuation.resume() }
            let resumed = try await group.reduce(0, +)
            #expect(resumed == 3)
        }
    }
}
