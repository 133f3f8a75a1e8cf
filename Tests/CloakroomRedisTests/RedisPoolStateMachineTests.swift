@testable import CloakroomRedis
import Testing

/// Pool policy without sockets: connections and waiters are stand-ins.
@Suite struct RedisPoolStateMachineTests {
    final class Connection {}
    typealias Machine = RedisPoolStateMachine<Connection, Int>

    @Test func firstLeaseConnectsEverySlotAndWaits() {
        var machine = Machine(size: 3)
        let none = machine.readyConnection()
        #expect(none == nil)
        guard case .wait(let slots) = machine.lease(1) else { Issue.record("expected to wait"); return }
        #expect(slots == [0, 1, 2])
        guard case .wait(let more) = machine.lease(2) else { Issue.record("expected to wait"); return }
        #expect(more.isEmpty, "attempts are already under way")

        let connection = Connection()
        let action = machine.connected(slot: 1, connection)
        #expect(action.waiters == [1, 2])
        #expect(action.connect.isEmpty)
        #expect(!action.close)
        let picked = machine.readyConnection()
        #expect(picked === connection)
    }

    @Test func readyConnectionsTakeTurns() {
        var machine = Machine(size: 3)
        _ = machine.lease(0)
        let (a, b, c) = (Connection(), Connection(), Connection())
        _ = machine.connected(slot: 0, a)
        _ = machine.connected(slot: 1, b)
        _ = machine.connected(slot: 2, c)
        let picks = (0..<6).compactMap { _ in machine.readyConnection() }
        #expect(picks.map { ObjectIdentifier($0) } == [a, b, c, a, b, c].map { ObjectIdentifier($0) })
    }

    @Test func failuresBackOffAndFailWaitersOnlyWhenNothingIsLeft() {
        var machine = Machine(size: 2)
        _ = machine.lease(7)
        let first = machine.connectFailed(slot: 0, .connectFailed("refused"))
        #expect(first.waiters.isEmpty, "slot 1 is still connecting")
        #expect(first.retryAfter == .milliseconds(10))
        #expect(first.outageStarted, "nothing is ready: an outage starts, logged once")
        let second = machine.connectFailed(slot: 1, .connectFailed("refused"))
        #expect(second.waiters == [7])
        #expect(!second.outageStarted)

        // Every slot backing off: fail at once with the last error, no waiting.
        guard case .fail(let error) = machine.lease(8) else { Issue.record("expected to fail fast"); return }
        #expect(error == .connectFailed("refused"))

        let result1 = machine.retry(slot: 0)
        #expect(result1)
        let result2 = machine.retry(slot: 0)
        #expect(!result2, "already connecting")
        guard case .wait(let slots) = machine.lease(9) else { Issue.record("expected to wait for the retry"); return }
        #expect(slots.isEmpty)
        let again = machine.connectFailed(slot: 0, .connectTimeout)
        #expect(again.waiters == [9])
        #expect(again.retryAfter == .milliseconds(20), "the second failure in a row waits twice as long")
    }

    /// Slots retrying out of step must not keep a waiter waiting: it waits only for the
    /// attempts under way when it arrived, so about one connect timeout at most.
    @Test func aWaiterDoesNotWaitForRetriesThatStartedAfterIt() {
        var machine = Machine(size: 2)
        _ = machine.lease(1)
        let first = machine.connectFailed(slot: 0, .connectTimeout)
        #expect(first.waiters.isEmpty, "slot 1's first attempt is under way")
        let retried0 = machine.retry(slot: 0)
        #expect(retried0)
        let second = machine.connectFailed(slot: 1, .connectTimeout)
        #expect(second.waiters == [1], "slot 0's retry started after waiter 1")

        guard case .wait = machine.lease(2) else { Issue.record("slot 0 is connecting: expected to wait"); return }
        let retried1 = machine.retry(slot: 1)
        #expect(retried1)
        let third = machine.connectFailed(slot: 0, .connectTimeout)
        #expect(third.waiters == [2], "not kept waiting for slot 1's retry")
        let fourth = machine.connectFailed(slot: 1, .connectTimeout)
        #expect(fourth.waiters.isEmpty)
    }

    @Test func backoffDoublesUpToHalfASecond() {
        let delays = (1...10).map { Machine.backoff(afterFailures: $0) }
        #expect(delays == [10, 20, 40, 80, 160, 320, 500, 500, 500, 500].map { .milliseconds($0) })
        #expect(Machine.backoff(afterFailures: 1000) == .milliseconds(500))
    }

    @Test func successResetsTheBackoffAndFillsIdleSlots() {
        var machine = Machine(size: 3)
        _ = machine.lease(0)
        _ = machine.connectFailed(slot: 0, .connectTimeout)
        _ = machine.connectFailed(slot: 0, .connectTimeout)  // (a stale report for a backing-off slot)
        let connection = Connection()
        let firstConnected = machine.connected(slot: 1, connection)
        #expect(firstConnected.outageEnded, "slot 0 failed with nothing ready; now something is")
        let result3 = machine.closed(slot: 1, connection)
        #expect(result3, "a closed connection is replaced at once")
        let none = machine.readyConnection()
        #expect(none == nil)
        let other = Connection()
        let action = machine.connected(slot: 1, other)
        #expect(action.connect.isEmpty, "slot 0 backs off, slot 2 is still connecting")
        #expect(!action.outageEnded)
        let result4 = machine.retry(slot: 0)
        #expect(result4)
        let recovered = machine.connectFailed(slot: 0, .connectTimeout)
        #expect(recovered.retryAfter == .milliseconds(40), "slot 0 failed three times in a row")
    }

    @Test func closeOfAnOldConnectionIsIgnored() {
        var machine = Machine(size: 1)
        _ = machine.lease(0)
        let old = Connection()
        _ = machine.connected(slot: 0, old)
        let result5 = machine.closed(slot: 0, old)
        #expect(result5)
        let new = Connection()
        _ = machine.connected(slot: 0, new)
        let result6 = machine.closed(slot: 0, old)
        #expect(!result6)
        let picked = machine.readyConnection()
        #expect(picked === new)
    }

    @Test func shutDownClosesEverythingAndRefusesLeases() {
        var machine = Machine(size: 2)
        _ = machine.lease(1)
        let ready = Connection()
        _ = machine.connected(slot: 0, ready)
        _ = machine.lease(2)  // served at once
        var machine2 = Machine(size: 1)
        _ = machine2.lease(3)
        let shutdown2 = machine2.shutDown()
        #expect(shutdown2.waiters == [3])

        let shutdown = machine.shutDown()
        #expect(shutdown.connections.map { ObjectIdentifier($0) } == [ObjectIdentifier(ready)])
        guard case .fail(.shutDown) = machine.lease(4) else { Issue.record("expected shutDown"); return }
        let none = machine.readyConnection()
        #expect(none == nil)
        // The attempt still under way on slot 1 finishes after the shutdown: close it.
        let result7 = machine.connected(slot: 1, Connection())
        #expect(result7.close)
        let result8 = machine.closed(slot: 0, ready)
        #expect(!result8)
        let result9 = machine.connectFailed(slot: 1, .connectTimeout)
        #expect(result9.retryAfter == nil)
    }
}

extension RedisPoolStateMachineTests {
    /// A new primary: slots backing off after failed attempts against the old one connect now,
    /// with their failure counts reset, and their pending retries find nothing to do.
    @Test func aKickEndsEveryBackoff() {
        var machine = Machine(size: 3)
        _ = machine.lease(1)
        let connection = Connection()
        _ = machine.connected(slot: 0, connection)
        for slot in [1, 2] {
            _ = machine.connectFailed(slot: slot, .connectFailed("refused"))
            _ = machine.retry(slot: slot)
            _ = machine.connectFailed(slot: slot, .connectFailed("refused"))
        }
        #expect(machine.kick() == [1, 2], "the ready slot is left alone")
        let late = machine.retry(slot: 1)
        #expect(!late, "already connecting")
        let again = machine.connectFailed(slot: 1, .connectFailed("refused"))
        #expect(again.retryAfter == .milliseconds(10), "the backoff starts over")
        #expect(machine.kick() == [1])
        _ = machine.shutDown()
        #expect(machine.kick().isEmpty)
    }
}
