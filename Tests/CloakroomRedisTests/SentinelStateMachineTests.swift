@testable import CloakroomRedis
import Testing

/// Discovery and failover policy without sockets: sentinels' answers, `ROLE` checks and what
/// the data path reports are fed in by hand, with times from a fixed origin.
@Suite struct SentinelStateMachineTests {
    final class Connection {}
    typealias Machine = SentinelStateMachine<Connection, String>

    let a = RedisEndpoint(host: "10.0.0.1", port: 6379)
    let b = RedisEndpoint(host: "10.0.0.2", port: 6379)
    let origin = ContinuousClock.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { origin + .milliseconds(milliseconds) }

    /// A machine with `a` verified as the primary (sentinel 0 named it), at time 0.
    func settledOnA(sentinels: Int = 3) -> Machine {
        var machine = Machine(sentinelCount: sentinels)
        _ = machine.start(now: at(0))
        _ = machine.sentinelAnswered(0, token: 1, primary: a, now: at(0))
        _ = machine.roleChecked(a, token: 2, result: .primary, now: at(0))
        return machine
    }

    @Test func firstDiscoveryAsksASentinelThenChecksRoleThenUsesIt() throws {
        var machine = Machine(sentinelCount: 3)
        guard case .wait(let started) = machine.lease("first", id: 1, now: at(0)) else { Issue.record("expected to wait"); return }
        #expect(started.asks == [0], "the first lease starts the first round")
        #expect(machine.start(now: at(0)).isEmpty, "already started")
        guard case .wait(let none) = machine.lease("second", id: 2, now: at(1)) else { Issue.record("expected to wait"); return }
        #expect(none.isEmpty)

        #expect(machine.sentinelAnswered(0, token: 1, primary: a, now: at(2)).verifies == [a])
        let actions = machine.roleChecked(a, token: 2, result: .primary, now: at(3))
        let used = try #require(actions.used)
        #expect(used.endpoint == a)
        #expect(actions.resumed == ["first", "second"])
        #expect(actions.failovers.isEmpty, "discovering the first primary is no failover")
        #expect(actions.outages.isEmpty, "nor the end of an outage")
        #expect(machine.phase == .settled)
        guard case .use(let leased) = machine.lease("third", id: 3, now: at(4)) else { Issue.record("expected the primary"); return }
        #expect(leased == used)
    }

    @Test func aRoundAsksEverySentinelInTurnThenBacksOffAndFailsWaitersFast() {
        var machine = Machine(sentinelCount: 3)
        _ = machine.lease("waiting", id: 1, now: at(0))
        #expect(machine.sentinelFailed(0, token: 1, now: at(1)).asks == [1])
        #expect(machine.sentinelAnswered(1, token: 2, primary: nil, now: at(2)).asks == [2], "a sentinel that does not know the master")
        let failed = machine.sentinelFailed(2, token: 3, now: at(3))
        #expect(failed.retries == [.milliseconds(50)])
        #expect(failed.failed == ["waiting"])
        #expect(machine.phase == .pausing)

        // Between rounds, callers fail at once rather than queueing.
        guard case .fail(let error) = machine.lease("late", id: 2, now: at(4)) else { Issue.record("expected to fail fast"); return }
        #expect(error == Machine.noPrimary)

        #expect(machine.retryDue(now: at(60)).asks == [0])
        for sentinel in 0..<3 { _ = machine.sentinelFailed(sentinel, token: 4 + sentinel, now: at(61)) }
        #expect(machine.retryDue(now: at(200)).asks == [0])
        #expect(Machine.backoff(afterFailedRounds: 2) == .milliseconds(100))
        #expect(Machine.backoff(afterFailedRounds: 4) == .milliseconds(400))
        #expect(Machine.backoff(afterFailedRounds: 9) == .milliseconds(500), "capped")
    }

    @Test func anAnnouncedSwitchDropsTheOldPrimaryAtOnceAndUsesTheNewOneOnceChecked() throws {
        var machine = settledOnA()
        let generation = try #require(machine.primary?.generation)
        let (c1, c2) = (Connection(), Connection())
        let registered = [machine.opened(c1, generation: generation), machine.opened(c2, generation: generation)]
        #expect(registered == [true, true])

        let dropped = machine.switchAnnounced(to: b, now: at(1000))
        #expect(dropped.lost == [a])
        #expect(Set(dropped.closed.map(ObjectIdentifier.init)) == Set([c1, c2].map(ObjectIdentifier.init)))
        #expect(dropped.verifies == [b])
        #expect(machine.primary == nil, "nothing goes to the old primary while the new one is checked")
        #expect(machine.switchAnnounced(to: b, now: at(1001)).isEmpty, "the other sentinels' announcements change nothing")
        #expect(machine.closed(c1, now: at(1002)).isEmpty, "its connections closing is expected, not a new problem")
        guard case .wait = machine.lease("during", id: 9, now: at(1003)) else { Issue.record("a check is under way: expected to wait"); return }

        let switched = machine.roleChecked(b, token: 3, result: .primary, now: at(1300))
        #expect(switched.failovers.count == 1)
        #expect(switched.failovers.first?.from == a && switched.failovers.first?.to == b)
        #expect(switched.outages == [.milliseconds(300)])
        #expect(switched.used?.endpoint == b)
        #expect(switched.resumed == ["during"])
        let stale = machine.opened(Connection(), generation: generation)
        #expect(!stale, "a connection opened to the old primary is refused")
        #expect(machine.switchAnnounced(to: b, now: at(1400)).isEmpty)
    }

    @Test func readOnlyDropsThePrimaryAndTheRoundSkipsItUntilASentinelNamesAnother() throws {
        var machine = settledOnA()
        let generation = try #require(machine.primary?.generation)
        let actions = machine.problem(.notPrimary, generation: generation, now: at(500))
        #expect(actions.lost == [a])
        #expect(actions.asks == [0])
        // The sentinel has not noticed yet: A again, which this round already rejected.
        #expect(machine.sentinelAnswered(0, token: 3, primary: a, now: at(501)).asks == [1])
        #expect(machine.sentinelAnswered(1, token: 4, primary: b, now: at(502)).verifies == [b])
        let switched = machine.roleChecked(b, token: 5, result: .primary, now: at(503))
        #expect(switched.used?.endpoint == b)
        #expect(switched.outages == [.milliseconds(3)])
        // Sentinel 1 was right: the next round asks it first.
        let next = machine.problem(.connectionLost, generation: try #require(machine.primary?.generation), now: at(900))
        #expect(next.asks == [1])
    }

    @Test func aLostConnectionKeepsThePrimaryWhileItIsCheckedAgain() throws {
        var machine = settledOnA()
        let generation = try #require(machine.primary?.generation)
        let connection = Connection()
        let registered = machine.opened(connection, generation: generation)
        #expect(registered)
        #expect(machine.closed(connection, now: at(500)).asks == [0])
        guard case .use(let still) = machine.lease("meanwhile", id: 1, now: at(501)) else { Issue.record("expected the primary"); return }
        #expect(still.endpoint == a)
        #expect(machine.sentinelAnswered(0, token: 3, primary: a, now: at(502)).verifies == [a])
        #expect(machine.roleChecked(a, token: 4, result: .primary, now: at(503)).isEmpty, "confirmed: nothing changes")
        #expect(machine.primary?.generation == generation)

        // Lost again, and this time A does not answer: dropped.
        _ = machine.problem(.connectionLost, generation: generation, now: at(700))
        _ = machine.sentinelAnswered(0, token: 5, primary: a, now: at(701))
        let gone = machine.roleChecked(a, token: 6, result: .unreachable, now: at(702))
        #expect(gone.lost == [a])
        #expect(gone.asks == [1], "the round goes on with the next sentinel")
    }

    @Test func problemsStartRoundsAtMostEvery100Milliseconds() throws {
        var machine = settledOnA()
        let generation = try #require(machine.primary?.generation)
        let soon = machine.problem(.loading, generation: generation, now: at(40))
        #expect(soon.asks.isEmpty)
        #expect(soon.retries == [.milliseconds(60)])
        #expect(machine.phase == .pausing)
        #expect(machine.problem(.loading, generation: generation, now: at(50)).isEmpty, "a round is already scheduled")
        guard case .use = machine.lease("meanwhile", id: 1, now: at(60)) else { Issue.record("LOADING keeps the primary"); return }
        #expect(machine.retryDue(now: at(100)).asks == [0])
    }

    @Test func withEverySentinelUnreachableThePrimaryItselfDecides() throws {
        var machine = settledOnA()
        let generation = try #require(machine.primary?.generation)
        _ = machine.problem(.connectionLost, generation: generation, now: at(500))
        _ = machine.sentinelFailed(0, token: 3, now: at(501))
        _ = machine.sentinelFailed(1, token: 4, now: at(502))
        #expect(machine.sentinelFailed(2, token: 5, now: at(503)).verifies == [a])
        #expect(machine.roleChecked(a, token: 6, result: .primary, now: at(504)).isEmpty)
        #expect(machine.primary?.endpoint == a, "sentinels down, primary fine: keep serving")
    }

    @Test func anAnnouncedPrimaryThatFailsItsCheckIsRejectedByTheRoundThatFollows() {
        var machine = settledOnA()
        _ = machine.switchAnnounced(to: b, now: at(100))
        let failed = machine.roleChecked(b, token: 3, result: .notPrimary, now: at(101))
        #expect(failed.asks == [0])
        #expect(machine.sentinelAnswered(0, token: 4, primary: b, now: at(102)).asks == [1], "B is rejected for this round")
        _ = machine.sentinelAnswered(1, token: 5, primary: b, now: at(103))
        let gaveUp = machine.sentinelAnswered(2, token: 6, primary: b, now: at(104))
        #expect(gaveUp.retries == [.milliseconds(50)])
        // The next round may try B again: by then it may have been promoted.
        #expect(machine.retryDue(now: at(160)).asks == [0])
        #expect(machine.sentinelAnswered(0, token: 7, primary: b, now: at(161)).verifies == [b])
    }

    @Test func staleAnswersAndReportsAreIgnored() throws {
        var machine = settledOnA()
        let old = try #require(machine.primary?.generation)
        _ = machine.switchAnnounced(to: b, now: at(100))
        _ = machine.roleChecked(b, token: 3, result: .primary, now: at(101))
        #expect(machine.problem(.notPrimary, generation: old, now: at(102)).isEmpty, "about the previous primary")
        #expect(machine.sentinelAnswered(0, token: 1, primary: a, now: at(103)).isEmpty, "an answer to an old question")
        #expect(machine.roleChecked(a, token: 2, result: .primary, now: at(104)).isEmpty, "an old check")
        #expect(machine.primary?.endpoint == b)
    }

    @Test func aRoundThatFindsAnotherPrimaryClosesTheOldConnectionsWithoutAnOutage() throws {
        var machine = settledOnA()
        let connection = Connection()
        let registered = machine.opened(connection, generation: try #require(machine.primary?.generation))
        #expect(registered)
        _ = machine.subscriptionRestored(now: at(1000))
        _ = machine.sentinelAnswered(0, token: 3, primary: b, now: at(1001))
        let moved = machine.roleChecked(b, token: 4, result: .primary, now: at(1002))
        #expect(moved.closed.map(ObjectIdentifier.init) == [ObjectIdentifier(connection)])
        #expect(moved.failovers.count == 1)
        #expect(moved.outages.isEmpty)
        #expect(moved.used?.endpoint == b)
    }

    @Test func waitersTimeOutAndShutdownFailsTheRest() {
        var machine = Machine(sentinelCount: 1)
        _ = machine.lease("slow", id: 1, now: at(0))
        _ = machine.lease("other", id: 2, now: at(0))
        #expect(machine.waiterTimedOut(id: 1) == "slow")
        #expect(machine.waiterTimedOut(id: 1) == nil)
        #expect(machine.shutDown() == ["other"])
        guard case .fail(let error) = machine.lease("after", id: 3, now: at(1)) else { Issue.record("expected to fail"); return }
        #expect(error == .shutDown)
        let opened = machine.opened(Connection(), generation: 0)
        #expect(!opened)
    }
}

// Reading the actions by kind.
extension Array where Element == SentinelStateMachineTests.Machine.Action {
    var asks: [Int] { compactMap { if case .ask(let sentinel, _) = $0 { sentinel } else { nil } } }
    var verifies: [RedisEndpoint] { compactMap { if case .verify(let endpoint, _) = $0 { endpoint } else { nil } } }
    var retries: [Duration] { compactMap { if case .retry(let delay) = $0 { delay } else { nil } } }
    var used: SentinelStateMachineTests.Machine.Primary? { lazy.compactMap { if case .use(let primary) = $0 { primary } else { nil } }.first }
    var resumed: [String] { flatMap { action -> [String] in if case .resume(let waiters, _) = action { waiters } else { [] } } }
    var failed: [String] { flatMap { action -> [String] in if case .fail(let waiters, _) = action { waiters } else { [] } } }
    var lost: [RedisEndpoint] { compactMap { if case .lost(let endpoint, _) = $0 { endpoint } else { nil } } }
    var closed: [SentinelStateMachineTests.Connection] {
        flatMap { action -> [SentinelStateMachineTests.Connection] in if case .close(let connections) = action { connections } else { [] } }
    }
    var failovers: [(from: RedisEndpoint, to: RedisEndpoint)] {
        compactMap { if case .failover(let from, let to) = $0 { (from, to) } else { nil } }
    }
    var outages: [Duration] { compactMap { if case .outageEnded(let duration) = $0 { duration } else { nil } } }
}
