/// Which server is the primary, as a plain value: what the sentinels say, what the server itself
/// confirms, and what the data connections run into. No I/O, no locks, no clock of its own: the
/// ``SentinelMonitor`` passes the time in, holds the machine in a mutex and carries out the
/// ``Action``s its methods return after releasing the lock.
///
/// **Discovery.** A round asks the sentinels one at a time (the one that answered last time
/// first) for the primary's address, then checks `ROLE` on that address: only a server that
/// says `master` becomes the primary. An answer that fails its check is rejected for the rest of
/// the round and the next sentinel is asked; when no sentinel can be reached but a primary is
/// in use, that primary's own `ROLE` decides whether it stays. A round that finds nothing is
/// retried after a backoff (50 ms doubling to 500 ms).
///
/// **Following failovers.** A sentinel's `+switch-master` names the new primary: the old one is
/// dropped at once (its connections are closed, nothing more is sent to it) and the new one is
/// checked and used. The data path reports what it meets: `READONLY`/`MASTERDOWN` (or a `ROLE`
/// that is not `master` when a connection opens) drops the primary and starts a round; a lost
/// connection, a refused connect or `LOADING` keeps it but starts a round, whose `ROLE` check
/// drops it if it no longer answers as the primary. Rounds start at most every 100 ms.
///
/// **Generations.** Each primary in use has a generation, bumped whenever it is dropped or
/// replaced. A connection counts only if opened under the current generation (``opened(_:generation:)``)
/// and a report only if made under it, so nothing opened to or heard from a previous primary is
/// used or believed. Connections of the current generation are registered, so a change closes
/// them all, pool and subscriber alike.
///
/// **Waiters.** A caller that needs the primary while a round or a check is under way waits for
/// its outcome (the monitor bounds the wait by the connect timeout); with no primary and no
/// round under way (between retries) it fails at once, so requests during a failover get their
/// 503 without queueing.
/// The server in use as the primary, and the generation it was verified in.
struct SentinelPrimary: Hashable, Sendable {
    var endpoint: RedisEndpoint
    var generation: Int
}

struct SentinelStateMachine<Connection: AnyObject, Waiter> {
    typealias Instant = ContinuousClock.Instant

    typealias Primary = SentinelPrimary

    /// Why a primary stopped being used, or why the data path doubts it.
    enum Problem: String, Sendable, Equatable {
        /// It says it is a replica (`READONLY`, `MASTERDOWN`, or `ROLE` at connect).
        case notPrimary = "not the primary"
        /// It answers `LOADING`.
        case loading
        /// One of its connections closed.
        case connectionLost = "connection lost"
        /// It could not be reached, or did not answer `ROLE`.
        case unreachable
        /// A sentinel announced another primary.
        case replaced = "replaced by a failover"
    }

    /// What a `ROLE` check found.
    enum RoleCheck: Equatable {
        case primary
        case notPrimary
        case unreachable
    }

    enum Phase: Equatable {
        /// Not started.
        case idle
        /// A primary is in use and nothing is under way.
        case settled
        /// A question is out to this sentinel.
        case asking(sentinel: Int, token: Int)
        /// A `ROLE` check is out to this server.
        case verifying(RedisEndpoint, token: Int)
        /// Waiting for ``retryDue(now:)`` to start the next round.
        case pausing
        case shutDown
    }

    enum Action {
        /// Ask sentinel number `sentinel` for the primary's address; report with ``sentinelAnswered(_:token:primary:now:)``
        /// or ``sentinelFailed(_:token:now:)``.
        case ask(sentinel: Int, token: Int)
        /// Connect to this server, check `ROLE`, report with ``roleChecked(_:token:result:now:)``.
        case verify(RedisEndpoint, token: Int)
        /// Call ``retryDue(now:)`` after this long.
        case retry(after: Duration)
        /// Close these: they go to a server that is no longer the primary.
        case close([Connection])
        /// A new primary is in use: whoever waits out a backoff should connect now.
        case use(Primary)
        case resume([Waiter], Primary)
        case fail([Waiter], RedisClientError)
        /// The primary in use changed from one server to another (counted as a failover seen).
        case failover(from: RedisEndpoint, to: RedisEndpoint)
        /// The primary stopped being used: from now until the next ``use(_:)``, there is none.
        case lost(RedisEndpoint, Problem)
        /// A period without a primary ended after this long.
        case outageEnded(Duration)
    }

    enum Lease {
        case use(Primary)
        /// The waiter was queued; carry out these actions.
        case wait([Action])
        case fail(RedisClientError)
    }

    private struct Round {
        /// Sentinels still to ask, in order.
        var remaining: [Int]
        /// Addresses whose `ROLE` check failed in this round.
        var rejected: Set<RedisEndpoint> = []
        /// Whether the primary in use was checked directly, all sentinels having failed.
        var checkedCurrent = false
    }

    let sentinelCount: Int
    private(set) var phase: Phase = .idle
    private(set) var primary: Primary?
    private var generation = 0
    private var token = 0
    private var round: Round?
    /// Rejected before the next round starts (a primary that said `READONLY`): that round
    /// skips it without a check, however stale a sentinel's answer.
    private var rejectedNext: Set<RedisEndpoint> = []
    /// The sentinel whose answer is being checked (nil for a `+switch-master` or the current primary).
    private var answeredBy: Int?
    /// The sentinel asked first: the last whose answer proved right.
    private var preferred = 0
    private var failedRounds = 0
    private var lastRoundStart: Instant?
    /// The last server used as the primary, to tell a failover from the first discovery.
    private var lastEndpoint: RedisEndpoint?
    private var outageSince: Instant?
    private var waiters: [(id: Int, waiter: Waiter)] = []
    private var connections: [ObjectIdentifier: (connection: Connection, generation: Int)] = [:]

    static var minimumRoundSpacing: Duration { .milliseconds(100) }
    static var maximumBackoff: Duration { .milliseconds(500) }

    /// How long to wait after `failures` rounds in a row found no primary.
    static func backoff(afterFailedRounds failures: Int) -> Duration {
        let shift = min(max(failures - 1, 0), 10)
        return min(.milliseconds(50 << shift), maximumBackoff)
    }

    init(sentinelCount: Int) {
        precondition(sentinelCount > 0, "Sentinel needs at least one sentinel address")
        self.sentinelCount = sentinelCount
    }

    /// Connections registered to the current primary.
    var connectionCount: Int { connections.count }
    /// Callers waiting for the outcome of a round or check.
    var waiterCount: Int { waiters.count }

    // MARK: Starting and leasing

    /// Starts the first round; later calls do nothing.
    mutating func start(now: Instant) -> [Action] {
        guard phase == .idle else { return [] }
        return startRound(now: now)
    }

    /// The primary for a new connection: at once when one is in use; after the round or check
    /// under way otherwise; never while waiting between rounds.
    mutating func lease(_ waiter: Waiter, id: Int, now: Instant) -> Lease {
        if phase == .shutDown { return .fail(.shutDown) }
        if let primary { return .use(primary) }
        switch phase {
        case .asking, .verifying:
            waiters.append((id, waiter))
            return .wait([])
        case .idle, .settled:
            waiters.append((id, waiter))
            return .wait(startRound(now: now))
        case .pausing:
            return .fail(Self.noPrimary)
        case .shutDown:
            return .fail(.shutDown)
        }
    }

    /// A waiter's time ran out: take it out to fail it (nil when already served).
    mutating func waiterTimedOut(id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    static var noPrimary: RedisClientError {
        .noPrimary("the sentinels name no server that answers as the primary (failover under way?)")
    }

    // MARK: Sentinels' answers

    mutating func sentinelAnswered(_ sentinel: Int, token: Int, primary answer: RedisEndpoint?, now: Instant) -> [Action] {
        guard phase == .asking(sentinel: sentinel, token: token) else { return [] }
        guard let answer, round?.rejected.contains(answer) != true else { return nextInRound(now: now) }
        answeredBy = sentinel
        return [verify(answer)]
    }

    mutating func sentinelFailed(_ sentinel: Int, token: Int, now: Instant) -> [Action] {
        guard phase == .asking(sentinel: sentinel, token: token) else { return [] }
        return nextInRound(now: now)
    }

    /// A sentinel announced `+switch-master` to `endpoint`.
    mutating func switchAnnounced(to endpoint: RedisEndpoint, now: Instant) -> [Action] {
        switch phase {
        case .idle, .shutDown: return []
        case .verifying(endpoint, _): return []
        default: break
        }
        if primary?.endpoint == endpoint { return [] }
        var actions = drop(.replaced, now: now)
        round = nil
        answeredBy = nil
        actions.append(verify(endpoint))
        return actions
    }

    /// A sentinel subscription was confirmed again after a reconnection: announcements may have
    /// been missed meanwhile, so ask.
    mutating func subscriptionRestored(now: Instant) -> [Action] {
        guard phase == .settled else { return [] }
        return startRound(now: now)
    }

    // MARK: ROLE checks

    mutating func roleChecked(_ endpoint: RedisEndpoint, token: Int, result: RoleCheck, now: Instant) -> [Action] {
        guard phase == .verifying(endpoint, token: token) else { return [] }
        guard result == .primary else {
            var actions: [Action] = []
            if primary?.endpoint == endpoint { actions += drop(result == .notPrimary ? .notPrimary : .unreachable, now: now) }
            // A failed check of an announced primary starts a round of its own.
            var current = round ?? Round(remaining: sentinelOrder())
            current.rejected.insert(endpoint)
            round = current
            return actions + nextInRound(now: now)
        }
        failedRounds = 0
        if let answeredBy { preferred = answeredBy }
        round = nil
        phase = .settled
        if primary?.endpoint == endpoint { return [] }

        var actions: [Action] = []
        if primary != nil {
            // The sentinels moved on without this client hearing an announcement.
            actions.append(.close(takeConnections()))
        }
        generation += 1
        let chosen = Primary(endpoint: endpoint, generation: generation)
        primary = chosen
        if let last = lastEndpoint, last != endpoint { actions.append(.failover(from: last, to: endpoint)) }
        lastEndpoint = endpoint
        if let since = outageSince {
            actions.append(.outageEnded(now - since))
            outageSince = nil
        }
        actions.append(.use(chosen))
        if !waiters.isEmpty {
            actions.append(.resume(waiters.map(\.waiter), chosen))
            waiters = []
        }
        return actions
    }

    // MARK: What the data path reports

    /// A data connection opened under `generation` met `problem`. Reports about a previous
    /// primary are ignored.
    mutating func problem(_ problem: Problem, generation: Int, now: Instant) -> [Action] {
        guard let current = primary, current.generation == generation, phase != .shutDown else { return [] }
        var actions: [Action] = []
        if problem == .notPrimary {
            actions += drop(problem, now: now)
            if round != nil { round?.rejected.insert(current.endpoint) } else { rejectedNext.insert(current.endpoint) }
        }
        guard phase == .settled else { return actions }  // a round is under way or scheduled
        if let last = lastRoundStart, now - last < Self.minimumRoundSpacing {
            phase = .pausing
            actions.append(.retry(after: Self.minimumRoundSpacing - (now - last)))
        } else {
            actions += startRound(now: now)
        }
        return actions
    }

    /// A connection opened to `generation`'s primary: registers it, or returns false when the
    /// primary changed meanwhile (the caller closes it and fails).
    mutating func opened(_ connection: Connection, generation: Int) -> Bool {
        guard phase != .shutDown, let primary, primary.generation == generation else { return false }
        connections[ObjectIdentifier(connection)] = (connection, generation)
        return true
    }

    /// A registered connection closed. One that was closed for a change of primary is no longer
    /// registered, and is not reported.
    mutating func closed(_ connection: Connection, now: Instant) -> [Action] {
        guard let entry = connections.removeValue(forKey: ObjectIdentifier(connection)) else { return [] }
        return problem(.connectionLost, generation: entry.generation, now: now)
    }

    // MARK: Timers and shutdown

    mutating func retryDue(now: Instant) -> [Action] {
        guard phase == .pausing else { return [] }
        return startRound(now: now)
    }

    /// Stops for good: returns the waiters to fail. Connections are their owners' to close.
    mutating func shutDown() -> [Waiter] {
        phase = .shutDown
        primary = nil
        round = nil
        connections = [:]
        defer { waiters = [] }
        return waiters.map(\.waiter)
    }

    // MARK: Internals

    private func sentinelOrder() -> [Int] {
        [preferred] + (0..<sentinelCount).filter { $0 != preferred }
    }

    private mutating func startRound(now: Instant) -> [Action] {
        var order = sentinelOrder()
        let first = order.removeFirst()
        round = Round(remaining: order, rejected: rejectedNext)
        rejectedNext = []
        lastRoundStart = now
        answeredBy = nil
        return [ask(first)]
    }

    private mutating func ask(_ sentinel: Int) -> Action {
        token += 1
        phase = .asking(sentinel: sentinel, token: token)
        return .ask(sentinel: sentinel, token: token)
    }

    private mutating func verify(_ endpoint: RedisEndpoint) -> Action {
        token += 1
        phase = .verifying(endpoint, token: token)
        return .verify(endpoint, token: token)
    }

    /// The next sentinel of the round; when none is left, the primary in use checked directly
    /// (the sentinels may be unreachable while it is fine); then the round has failed.
    private mutating func nextInRound(now: Instant) -> [Action] {
        if var current = round, !current.remaining.isEmpty {
            let next = current.remaining.removeFirst()
            round = current
            return [ask(next)]
        }
        if let primary, var current = round, !current.checkedCurrent, !current.rejected.contains(primary.endpoint) {
            current.checkedCurrent = true
            round = current
            answeredBy = nil
            return [verify(primary.endpoint)]
        }
        round = nil
        failedRounds += 1
        phase = .pausing
        var actions: [Action] = [.retry(after: Self.backoff(afterFailedRounds: failedRounds))]
        if !waiters.isEmpty {
            actions.append(.fail(waiters.map(\.waiter), Self.noPrimary))
            waiters = []
        }
        return actions
    }

    /// Stops using the primary: its connections are to be closed, and an outage starts.
    private mutating func drop(_ problem: Problem, now: Instant) -> [Action] {
        guard let current = primary else { return [] }
        primary = nil
        generation += 1
        outageSince = now
        return [.lost(current.endpoint, problem), .close(takeConnections())]
    }

    private mutating func takeConnections() -> [Connection] {
        defer { connections = [:] }
        return connections.values.map(\.connection)
    }
}
