/// The connection pool's decisions, as a plain value: which slot to connect, which connection
/// a command rides on, when to retry, whom to fail. No I/O, no locks, no clocks; the
/// ``RedisConnectionPool`` holds it in a mutex and carries out what its methods return after
/// releasing the lock.
///
/// The pool has a fixed number of slots. The first command opens all of them; afterwards each
/// slot reconnects on its own when its connection closes, and after a failed attempt waits out
/// a backoff (doubling from 10 ms to at most 500 ms) before the next. Commands are spread over
/// the ready connections round robin and pipelined on them, so a few connections carry many
/// concurrent callers.
///
/// A command that finds no ready connection waits for the attempts under way when it arrived
/// (so at most about one connect timeout), and fails with the last connect error once they have
/// all failed; it does not wait for retries that start later, which on a pool of several slots
/// retrying out of step could go on for seconds. With every slot backing off it fails at once:
/// while Redis is down, callers learn it immediately rather than queueing.
struct RedisPoolStateMachine<Connection: AnyObject, Waiter> {
    enum Slot {
        case idle
        case connecting
        case ready(Connection)
        case backingOff
    }

    private(set) var slots: [Slot]
    /// Consecutive failed attempts, per slot.
    private var failures: [Int]
    /// Each waiter with the slots whose attempts, under way when it arrived, it still waits for.
    private var waiters: [(waiter: Waiter, slots: [Int])] = []
    private var lastError: RedisClientError?
    private var nextSlot = 0
    /// Set when an attempt fails with no connection ready; cleared by the next success. Lets
    /// the pool log an outage once, not once per attempt.
    private var isDown = false
    private(set) var isShutDown = false

    init(size: Int) {
        precondition(size > 0, "a pool needs at least one connection")
        slots = Array(repeating: .idle, count: size)
        failures = Array(repeating: 0, count: size)
    }

    static var maximumBackoff: Duration { .milliseconds(500) }

    /// How long a slot waits before its next attempt, after `failures` failed ones in a row.
    static func backoff(afterFailures failures: Int) -> Duration {
        let shift = min(max(failures - 1, 0), 10)
        return min(.milliseconds(10 << shift), maximumBackoff)
    }

    // MARK: Leasing

    /// A ready connection, taking turns, or `nil` when none is ready.
    /// A ready connection for which `preferred` holds, else any ready one (round robin).
    mutating func readyConnection(preferring preferred: (Connection) -> Bool) -> Connection? {
        guard !isShutDown else { return nil }
        for offset in 0..<slots.count {
            let index = (nextSlot + offset) % slots.count
            if case .ready(let connection) = slots[index], preferred(connection) {
                nextSlot = (index + 1) % slots.count
                return connection
            }
        }
        return readyConnection()
    }

    mutating func readyConnection() -> Connection? {
        guard !isShutDown else { return nil }
        for offset in 0..<slots.count {
            let index = (nextSlot + offset) % slots.count
            if case .ready(let connection) = slots[index] {
                nextSlot = (index + 1) % slots.count
                return connection
            }
        }
        return nil
    }

    enum LeaseAction {
        case use(Connection)
        /// The waiter was queued; start these slots connecting.
        case wait(connect: [Int])
        case fail(RedisClientError)
    }

    mutating func lease(_ waiter: Waiter) -> LeaseAction {
        guard !isShutDown else { return .fail(.shutDown) }
        if let connection = readyConnection() { return .use(connection) }
        let underWay = slots.indices.filter { if case .connecting = slots[$0] { return true } else { return false } }
        if !underWay.isEmpty {
            waiters.append((waiter, underWay))
            return .wait(connect: [])
        }
        let idle = startIdleSlots()
        guard !idle.isEmpty else { return .fail(lastError ?? .connectionClosed) }
        waiters.append((waiter, idle))
        return .wait(connect: idle)
    }

    // MARK: Attempts

    struct ConnectedAction {
        /// Hand them the new connection.
        var waiters: [Waiter] = []
        /// Start these slots connecting too (the pool fills up behind the first connection).
        var connect: [Int] = []
        /// The pool shut down meanwhile: close the new connection.
        var close = false
        /// The first connection after failed attempts: Redis is back.
        var outageEnded = false
    }

    mutating func connected(slot: Int, _ connection: Connection) -> ConnectedAction {
        guard !isShutDown else {
            slots[slot] = .idle
            return ConnectedAction(close: true)
        }
        slots[slot] = .ready(connection)
        failures[slot] = 0
        lastError = nil
        var action = ConnectedAction(outageEnded: isDown)
        isDown = false
        action.connect = startIdleSlots()
        action.waiters = waiters.map(\.waiter)
        waiters = []
        return action
    }

    struct FailedAction {
        /// Fail these with the error: nothing else is left that could serve them.
        var waiters: [Waiter] = []
        /// Call ``retry(slot:)`` after this long.
        var retryAfter: Duration?
        /// The first failure with no connection ready: Redis just became unreachable.
        var outageStarted = false
    }

    mutating func connectFailed(slot: Int, _ error: RedisClientError) -> FailedAction {
        guard !isShutDown else {
            slots[slot] = .idle
            return FailedAction()
        }
        failures[slot] += 1
        slots[slot] = .backingOff
        lastError = error
        var action = FailedAction(retryAfter: Self.backoff(afterFailures: failures[slot]))
        // Waiters that saw this attempt under way stop waiting for it; those with none left fail.
        let anyReady = slots.contains { if case .ready = $0 { return true } else { return false } }
        if !anyReady {
            var still: [(waiter: Waiter, slots: [Int])] = []
            for var entry in waiters {
                entry.slots.removeAll { $0 == slot }
                if entry.slots.isEmpty { action.waiters.append(entry.waiter) } else { still.append(entry) }
            }
            waiters = still
        }
        if !anyReady && !isDown {
            isDown = true
            action.outageStarted = true
        }
        return action
    }

    /// A backoff ended. Returns whether to start the slot connecting.
    mutating func retry(slot: Int) -> Bool {
        guard !isShutDown, case .backingOff = slots[slot] else { return false }
        slots[slot] = .connecting
        return true
    }

    /// A connection closed. Returns whether to reconnect its slot now (a failure then backs off).
    mutating func closed(slot: Int, _ connection: Connection) -> Bool {
        guard case .ready(let current) = slots[slot], current === connection else { return false }
        guard !isShutDown else {
            slots[slot] = .idle
            return false
        }
        slots[slot] = .connecting
        return true
    }

    /// Ends every backoff at once: those slots are to connect now, and their failure counts
    /// start over. For a change of primary, after which the next attempt may well succeed.
    /// A backoff timer that fires later finds its slot no longer backing off and does nothing.
    mutating func kick() -> [Int] {
        guard !isShutDown else { return [] }
        var started: [Int] = []
        for index in slots.indices {
            if case .backingOff = slots[index] {
                slots[index] = .connecting
                failures[index] = 0
                started.append(index)
            }
        }
        return started
    }

    // MARK: Shutting down

    struct ShutdownAction {
        var waiters: [Waiter]
        var connections: [Connection]
    }

    /// Stops everything: ready connections are to be closed, waiters failed; attempts under
    /// way are closed when they complete (``connected(slot:_:)`` says so).
    mutating func shutDown() -> ShutdownAction {
        isShutDown = true
        var connections: [Connection] = []
        for index in slots.indices {
            if case .ready(let connection) = slots[index] {
                connections.append(connection)
                slots[index] = .idle
            } else if case .backingOff = slots[index] {
                slots[index] = .idle
            }
        }
        let action = ShutdownAction(waiters: waiters.map(\.waiter), connections: connections)
        waiters = []
        return action
    }

    private mutating func startIdleSlots() -> [Int] {
        var started: [Int] = []
        for index in slots.indices {
            if case .idle = slots[index] {
                slots[index] = .connecting
                started.append(index)
            }
        }
        return started
    }
}
