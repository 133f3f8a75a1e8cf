import NIOCore

/// The policy of one upstream's connection pool, across every event loop, as a value: which
/// target a request goes to, when a connection is made, reused, kept idle or closed, who waits
/// for a slot, and when a request may be sent again. No I/O, no locks, no clocks: the shell
/// (``UpstreamPool``) holds it under a lock, passes the time in, and carries out the actions it
/// returns outside the lock, as async-http-client's `HTTPConnectionPool.StateMachine` does.
///
/// Invariants:
/// - `max_connections` holds per target across all loops: a slot is counted from the moment a
///   connection is decided (``AcquireAction/connect(target:)``) until that connection closes.
/// - An idle connection is on exactly one loop and used only there. When a request on another
///   loop finds every slot of a target taken and an idle connection holding one, that idle
///   connection is closed and its slot goes to a new connection on the request's loop
///   (``AcquireAction/replaceIdle(_:target:)``) — but only when that evens out the loops' shares
///   of the target's slots, or the connection has been idle for ``Settings/stealAfter``: under
///   saturation every loop's connections are idle for microseconds between exchanges, and taking
///   those would close and reopen connections back and forth between the loops (issue 20: 400
///   HTTP/2 streams against 256 slots on two loops). A loop that holds its share waits for its
///   own connections instead; idle connections never starve a loop for longer than `stealAfter`.
/// - A target that refused a connection is tried last for ``Settings/failurePenalty``.
/// - Requests that find every slot taken and nothing idle wait, first come first served, until
///   a slot frees or `connect_timeout` passes.
struct UpstreamPoolStateMachine<Connection: AnyObject, Waiter> {
    typealias LoopID = ObjectIdentifier

    struct Settings {
        var targetCount: Int
        var maxConnectionsPerTarget: Int
        /// How long a target that refused is tried after the others.
        var failurePenalty: TimeAmount = .seconds(5)
        /// How long a request waits for a slot.
        var waitTimeout: TimeAmount
        /// How long a connection stays idle before it is closed.
        var idleTimeout: TimeAmount
        /// How long a connection stays idle before a request on another loop may take its slot
        /// whatever the loops' shares.
        var stealAfter: TimeAmount = .milliseconds(10)
    }

    enum AcquireAction {
        /// An idle connection on the request's loop, now the request's.
        case lease(Connection)
        /// Make a new connection to `target` on the request's loop; its slot is reserved.
        case connect(target: Int)
        /// Close this idle connection (it is on another loop, or unwanted for a fresh
        /// request) and make a new one to `target` on the request's loop: the slot passes on.
        case replaceIdle(Connection, target: Int)
        /// Every slot is taken: the request waits, as `id`, until ``WaiterAction`` wakes it,
        /// its deadline passes, or an idle connection elsewhere may be taken. The shell arms a
        /// timer for `timer` and then calls ``waitTimerFired(id:now:)``.
        case wait(id: Int, deadline: NIODeadline, timer: NIODeadline)
        /// Nothing left to try.
        case fail(UpstreamPoolError)
    }

    /// What to do for a waiting request once something changed.
    enum WaiterAction {
        case none
        /// Hand `connection` (released on the waiter's loop) to the waiter: it stays leased.
        case handOver(Connection, to: Waiter)
        /// A slot freed: the waiter (on its own loop) asks for a connection again.
        case retry(Waiter, loop: LoopID)
    }

    enum ReleaseAction {
        /// Keep it idle; when `scheduleSweep`, arm the loop's idle sweep for `at`.
        case keepIdle(scheduleSweep: Bool, at: NIODeadline)
        /// Close it: it cannot be reused (its slot frees when it closes).
        case close
        case waiter(WaiterAction)
    }

    private struct Target {
        /// Connections counted against `max_connections`: connecting, busy and idle.
        private(set) var open = 0
        /// `open` by event loop: the loops' shares.
        private var byLoop: [LoopID: Int] = [:]
        var skipUntil: NIODeadline?

        func open(on loop: LoopID) -> Int { byLoop[loop] ?? 0 }

        mutating func add(_ count: Int, on loop: LoopID) {
            open += count
            byLoop[loop, default: 0] += count
        }
    }

    private struct Idle {
        let connection: Connection
        let target: Int
        let loop: LoopID
        let since: NIODeadline
    }

    private struct Waiting {
        let id: Int
        let waiter: Waiter
        let loop: LoopID
        /// The targets it may be served by.
        let candidates: [Int]
        let deadline: NIODeadline
    }

    let settings: Settings
    private var targets: [Target]
    /// Most recently released last.
    private var idle: [Idle] = []
    private var waiting: [Waiting] = []
    /// Connections closed by ``AcquireAction/replaceIdle(_:target:)``: their slot already
    /// belongs to the connection that replaced them.
    private var replaced: [ObjectIdentifier] = []
    private var cursor = 0
    private var nextWaiterID = 0
    /// Loops with an idle sweep scheduled.
    private var sweeping: Set<LoopID> = []

    init(settings: Settings) {
        self.settings = settings
        self.targets = Array(repeating: Target(), count: settings.targetCount)
    }

    // MARK: Acquiring

    /// The targets in the order one request tries them: round robin from the next position,
    /// targets in their failure penalty moved to the back. The next request starts after the
    /// target this one leads with, so a penalized target's turn is not always taken by the one
    /// after it: the healthy targets keep equal shares.
    mutating func order(now: NIODeadline) -> [Int] {
        let count = targets.count
        guard count > 1 else { return count == 1 ? [0] : [] }
        let start = cursor
        var healthy: [Int] = [], penalized: [Int] = []
        for offset in 0..<count {
            let index = (start + offset) % count
            if let until = targets[index].skipUntil, now < until { penalized.append(index) } else { healthy.append(index) }
        }
        cursor = ((healthy.first ?? start) + 1) % count
        return healthy + penalized
    }

    /// The common case, before anything else: an idle connection to `target` on `loop`.
    mutating func leaseIdle(on loop: LoopID, target: Int) -> Connection? {
        guard let index = idle.lastIndex(where: { $0.loop == loop && $0.target == target }) else { return nil }
        return idle.remove(at: index).connection
    }

    /// A connection for a request on `loop`, trying `order` (from ``order(now:)``) minus the
    /// targets already `tried` for it. `fresh`: never an idle connection (an upgrade, or the
    /// retry of a request whose reused connection turned out closed). A request that has to
    /// wait gives up at `waitUntil` (its first wait's deadline when it waits again), by default
    /// `now` plus ``Settings/waitTimeout``.
    mutating func acquire(
        on loop: LoopID, order: [Int], tried: [Int], fresh: Bool, waiter: Waiter, now: NIODeadline, waitUntil: NIODeadline? = nil
    ) -> AcquireAction {
        let candidates = order.filter { !tried.contains($0) }
        guard let first = candidates.first else { return .fail(tried.isEmpty ? .noTarget : .connectFailed) }
        if !fresh, let connection = leaseIdle(on: loop, target: first) {
            return .lease(connection)
        }
        for target in candidates where targets[target].open < settings.maxConnectionsPerTarget {
            targets[target].add(1, on: loop)
            return .connect(target: target)
        }
        // Every slot taken: an idle connection elsewhere may pass its slot on (see the type's
        // invariants); a fresh request may replace one on its own loop.
        for target in candidates {
            if let index = idle.firstIndex(where: { $0.target == target && fresh && $0.loop == loop }) {
                return replace(at: index, for: loop)
            }
            if !fresh, let index = idle.lastIndex(where: { $0.target == target && $0.loop == loop }) {
                return .lease(idle.remove(at: index).connection)
            }
            if let index = stealable(target: target, for: loop, now: now) {
                return replace(at: index, for: loop)
            }
        }
        // A request that tried and failed elsewhere does not queue behind busy targets it has
        // not tried: it waits like any other.
        if let waitUntil, waitUntil <= now { return .fail(.exhausted) }
        nextWaiterID += 1
        let entry = Waiting(
            id: nextWaiterID, waiter: waiter, loop: loop, candidates: candidates, deadline: waitUntil ?? now + settings.waitTimeout)
        waiting.append(entry)
        return .wait(id: entry.id, deadline: entry.deadline, timer: timer(for: entry, now: now))
    }

    /// The idle connection to `target` on another loop whose slot a request on `loop` may take:
    /// one on a loop holding more than one slot beyond `loop`'s share, or any when `loop` holds
    /// none, or one idle for ``Settings/stealAfter``.
    private func stealable(target: Int, for loop: LoopID, now: NIODeadline) -> Int? {
        let mine = targets[target].open(on: loop)
        return idle.firstIndex { entry in
            guard entry.target == target, entry.loop != loop else { return false }
            return mine == 0 || targets[target].open(on: entry.loop) > mine + 1 || entry.since + settings.stealAfter <= now
        }
    }

    private mutating func replace(at index: Int, for loop: LoopID) -> AcquireAction {
        let entry = idle.remove(at: index)
        replaced.append(ObjectIdentifier(entry.connection))
        targets[entry.target].add(-1, on: entry.loop)
        targets[entry.target].add(1, on: loop)
        return .replaceIdle(entry.connection, target: entry.target)
    }

    /// When a waiter's timer fires: its deadline, or after ``Settings/stealAfter`` when an idle
    /// connection elsewhere may have become ``stealable(target:for:now:)`` by then (every idle
    /// connection was released by now, so none becomes stealable later than that).
    private func timer(for entry: Waiting, now: NIODeadline) -> NIODeadline {
        min(entry.deadline, now + settings.stealAfter)
    }

    enum WaitTimerAction {
        /// Served or gone already.
        case none
        /// Still waiting: arm the timer again for this time.
        case rearm(NIODeadline)
        /// The waiter takes this idle connection's slot, as ``AcquireAction/replaceIdle(_:target:)``.
        case replaceIdle(Connection, target: Int, for: Waiter)
        /// Its deadline passed.
        case timedOut(Waiter)
    }

    /// A waiter's timer (``AcquireAction/wait(id:deadline:timer:)``) fired.
    mutating func waitTimerFired(id: Int, now: NIODeadline) -> WaitTimerAction {
        guard let position = waiting.firstIndex(where: { $0.id == id }) else { return .none }
        let entry = waiting[position]
        for target in entry.candidates {
            if let index = stealable(target: target, for: entry.loop, now: now) {
                waiting.remove(at: position)
                guard case .replaceIdle(let connection, let target) = replace(at: index, for: entry.loop) else { continue }
                return .replaceIdle(connection, target: target, for: entry.waiter)
            }
        }
        if entry.deadline <= now {
            waiting.remove(at: position)
            return .timedOut(entry.waiter)
        }
        return .rearm(timer(for: entry, now: now))
    }

    /// A new connection to `target` is up: the target is healthy again.
    mutating func connected(target: Int) {
        targets[target].skipUntil = nil
    }

    /// A connection to `target` could not be made: its slot frees and the target is tried last
    /// for a while. The request goes on to its next target (``acquire(on:order:tried:fresh:waiter:now:)``
    /// with `target` among `tried`); a waiter may take the freed slot.
    mutating func connectFailed(target: Int, on loop: LoopID, now: NIODeadline) -> WaiterAction {
        targets[target].skipUntil = now + settings.failurePenalty
        return freed(target: target, on: loop)
    }

    // MARK: Releasing

    /// An exchange is done with `connection` (to `target`, on `loop`).
    mutating func release(_ connection: Connection, target: Int, on loop: LoopID, reusable: Bool, now: NIODeadline) -> ReleaseAction {
        guard reusable else { return .close }
        if let index = waiting.firstIndex(where: { $0.loop == loop && $0.candidates.contains(target) }) {
            return .waiter(.handOver(connection, to: waiting.remove(at: index).waiter))
        }
        if let other = waiting.first(where: { $0.candidates.contains(target) }) {
            // A waiter on another loop, where this connection cannot go: closing it frees its
            // slot for them (``connectionClosed(_:target:on:)`` wakes one) — when that evens out
            // the loops' shares. Otherwise it goes idle here, and the waiter's own loop serves
            // it, or the waiter takes its slot after ``Settings/stealAfter``.
            let mine = targets[target].open(on: loop), theirs = targets[target].open(on: other.loop)
            if theirs == 0 || mine > theirs + 1 { return .close }
        }
        idle.append(Idle(connection: connection, target: target, loop: loop, since: now))
        let schedule = sweeping.insert(loop).inserted
        return .keepIdle(scheduleSweep: schedule, at: now + settings.idleTimeout)
    }

    /// A connection's channel closed, whatever its state: its slot frees (unless it was
    /// replaced, the slot having passed on), and a waiter may take it.
    mutating func connectionClosed(_ connection: Connection, target: Int, on loop: LoopID) -> WaiterAction {
        idle.removeAll { $0.connection === connection }
        if let index = replaced.firstIndex(of: ObjectIdentifier(connection)) {
            replaced.remove(at: index)
            return .none
        }
        return freed(target: target, on: loop)
    }

    /// A connection left the pool for good while still open (it became a tunnel): its slot frees.
    mutating func detached(target: Int, on loop: LoopID) -> WaiterAction {
        freed(target: target, on: loop)
    }

    /// A slot of `target` on `loop` freed: the first waiter that `target` can serve asks again.
    private mutating func freed(target: Int, on loop: LoopID) -> WaiterAction {
        targets[target].add(-1, on: loop)
        guard let index = waiting.firstIndex(where: { $0.candidates.contains(target) }) else { return .none }
        let first = waiting.remove(at: index)
        return .retry(first.waiter, loop: first.loop)
    }

    // MARK: Time

    /// The idle connections on `loop` that have been idle for `idle_timeout`, taken out of the
    /// pool for the shell to close, and when to sweep again (nil: nothing idle there any more).
    mutating func sweepIdle(on loop: LoopID, now: NIODeadline) -> (expired: [Connection], next: NIODeadline?) {
        var expired: [Connection] = []
        var next: NIODeadline?
        idle.removeAll { entry in
            guard entry.loop == loop else { return false }
            let expiry = entry.since + settings.idleTimeout
            if expiry <= now {
                expired.append(entry.connection)
                return true
            }
            next = min(next ?? expiry, expiry)
            return false
        }
        if next == nil { sweeping.remove(loop) }
        return (expired, next)
    }

    /// Every idle connection on `loop`, taken out of the pool (shutdown).
    mutating func takeIdle(on loop: LoopID) -> [Connection] {
        var taken: [Connection] = []
        idle.removeAll { entry in
            guard entry.loop == loop else { return false }
            taken.append(entry.connection)
            return true
        }
        return taken
    }

    // MARK: Retrying

    /// Whether a request whose connection failed before any response byte may be sent again,
    /// once, on a fresh connection: only when the connection was a reused one that turned out
    /// closed (`stale`, the server timed it out as the request arrived), the method is
    /// idempotent, no body went with it, and it was not retried already. Never an unsafe
    /// request: the upstream may have acted on it.
    static func mayRetry(stale: Bool, reused: Bool, idempotent: Bool, hasBody: Bool, retried: Bool) -> Bool {
        stale && reused && idempotent && !hasBody && !retried
    }

    // MARK: Inspection (tests, metrics)

    func openConnections(target: Int) -> Int { targets[target].open }
    var idleCount: Int { idle.count }
    var waitingCount: Int { waiting.count }
}

enum UpstreamPoolError: Error, CustomStringConvertible {
    case noTarget
    /// Every target was tried and none could be connected to.
    case connectFailed
    /// Every target is at `max_connections` and no slot freed within `connect_timeout`.
    case exhausted

    var description: String {
        switch self {
        case .noTarget: return "no upstream target"
        case .connectFailed: return "no upstream target could be connected to"
        case .exhausted: return "every target is at max_connections"
        }
    }
}
