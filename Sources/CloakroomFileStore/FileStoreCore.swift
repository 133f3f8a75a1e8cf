import CloakroomSessions
import Logging
import Synchronization

/// What the store's API and its writer task share: the sessions and pending changes behind one
/// lock, and the database only the writer touches.
///
/// Group commit: an operation changes memory and marks the keys it touched under the lock,
/// then (for changes that must be durable) waits. The writer wakes, takes everything pending
/// in one step, writes it in one transaction, and resumes every waiter that batch covered.
/// While it writes, new changes pile up for the next batch, so under load many logins share
/// one fsync without any added delay when the store is idle.
final class FileStoreCore: Sendable {
    let path: String
    let clock: any WallClock
    let logger: Logger
    let database: SessionDatabase
    let state: Mutex<FileStoreState>
    private let wakeups: AsyncStream<Void>.Continuation
    /// Revocations announced in this process (open tunnels close with their sessions).
    let endingObservers = SessionEndingObservers()
    /// The audit log's observers (``SessionAuditSource``).
    let audit = SessionAuditObservers()
    /// Audit events of the sessions found expired when the file was loaded, held until an
    /// audit observer is registered.
    let eventsAtOpen: Mutex<[SessionAuditEvent]>

    init(
        path: String, clock: any WallClock, logger: Logger,
        database: SessionDatabase, table: MemorySessionTable, wakeups: AsyncStream<Void>.Continuation,
        eventsAtOpen: [SessionAuditEvent] = [], keys: APIKeyTable = APIKeyTable()
    ) {
        self.eventsAtOpen = Mutex(eventsAtOpen)
        var table = table
        table.tracksRemovedKeys = true
        self.path = path
        self.clock = clock
        self.logger = logger
        self.database = database
        var state = FileStoreState(table: table)
        state.keys = keys
        self.state = Mutex(state)
        self.wakeups = wakeups
    }

    /// The timeouts in force: the table's, which judges expiry under the lock. Not to be read
    /// under that lock (take `state.table.timeouts` there).
    var timeouts: SessionTimeouts { state.withLock { $0.table.timeouts } }

    var closedError: SessionStoreError { .unavailable("the file store for \(path) is closed") }

    // MARK: Operations

    /// Runs `body` under the lock (refusing once closed), marks the rows of sessions it removed,
    /// and reports sessions that ended by themselves once the lock is released.
    func withState<T: Sendable>(_ body: (inout FileStoreState) throws -> T) throws -> T {
        let (result, endings) = try state.withLock { state throws -> (T, Endings) in
            guard !state.isClosed else { throw closedError }
            let result = try body(&state)
            state.absorbRemovals()
            return (result, state.table.takeEndings())
        }
        deliver(endings)
        return result
    }

    /// Like ``withState(_:)``, then waits until what `change` marked is committed. A change that
    /// marked nothing returns at once, unless `durableBefore` and earlier changes failed to
    /// commit: then it waits for them too. `created` names a session `change` made, to be
    /// withdrawn from memory if its batch fails.
    ///
    /// `durableBefore` is for revokes (found by an audit): a revoke whose write failed was
    /// answered 503 but is already applied in memory, so a retry finds nothing to end; without
    /// the wait it would be acknowledged while the file still holds the session, which a
    /// restart would bring back.
    func apply<T: Sendable>(
        durableBefore: Bool = false, _ change: (inout FileStoreState) throws -> (value: T, created: (key: SessionKey, handle: String)?)
    ) async throws -> T {
        var outcome: Result<T, any Error> = .failure(closedError)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            var endings = Endings()
            let registered = state.withLock { state -> Bool in
                guard !state.isClosed else { return false }
                let before = state.pending.generation
                defer {  // on every path, including a change that threw halfway
                    state.absorbRemovals()
                    endings = state.table.takeEndings()
                }
                do {
                    let (value, created) = try change(&state)
                    outcome = .success(value)
                    state.absorbRemovals()
                    let waitsForEarlier = durableBefore && state.writeFailing && state.pending.generation > state.durableGeneration
                    guard state.pending.generation != before || waitsForEarlier else { return false }
                    state.waiters.append(.init(generation: state.pending.generation, continuation: continuation, created: created))
                    return true
                } catch {
                    outcome = .failure(error)
                    return false
                }
            }
            deliver(endings)
            if registered { wakeWriter() } else { continuation.resume() }
        }
        return try outcome.get()
    }

    /// Waits until every change made so far is committed. Once the store is closing it throws
    /// instead (the writer may already be gone); the changes are still written by the close.
    func awaitDurable() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Registration { case waiting, done, closed }
            let registration = state.withLock { state -> Registration in
                guard !state.isClosed else { return .closed }
                let generation = state.pending.generation
                guard generation > state.durableGeneration else { return .done }
                state.waiters.append(.init(generation: generation, continuation: continuation, created: nil))
                return .waiting
            }
            switch registration {
            case .waiting: wakeWriter()
            case .done: continuation.resume()
            case .closed: continuation.resume(throwing: closedError)
            }
        }
    }

    // MARK: Writer

    func wakeWriter() {
        wakeups.yield()
    }

    /// Stops accepting operations; the writer finishes what is pending, then ends.
    func shutDownWriter() -> Bool {
        let first = state.withLock { state -> Bool in
            defer { state.isClosed = true }
            return !state.isClosed
        }
        if first { wakeups.finish() }
        return first
    }

    /// The writer task: one drain per wake-up, and a last one after ``shutDownWriter()``.
    func runWriter(_ wakeups: AsyncStream<Void>) async {
        for await _ in wakeups {
            await drain()
        }
        await drain()
    }

    /// Writes batches until nothing is pending. On a failed batch, its waiters are told the
    /// store is unavailable, its changes are put back, and draining stops until the next
    /// wake-up (a new operation or the flusher's tick) so a failing disk is not hammered.
    func drain() async {
        while true {
            let taken = state.withLock { state -> (pending: PendingWrites, batch: WriteBatch)? in
                guard state.pending.hasChanges else { return nil }
                let pending = state.pending.take()
                return (pending, WriteBatch(pending, table: state.table, keys: state.keys))
            }
            guard let (pending, batch) = taken else { return }
            do {
                try await database.write(batch)
                let done = state.withLock { state in
                    state.commits += 1
                    state.writeFailing = false
                    state.durableGeneration = pending.generation
                    return state.takeWaiters(upTo: pending.generation)
                }
                for waiter in done { waiter.continuation.resume() }
            } catch {
                logger.error("session store write failed; will retry", metadata: [
                    "path": "\(path)", "error": "\(Self.describeWriteFailure(error, path: path))",
                ])
                let failed = state.withLock { state in
                    state.writeFailing = true
                    state.pending.restore(changesOf: pending)
                    let failed = state.takeWaiters(upTo: pending.generation)
                    withdraw(failed.compactMap(\.created), from: &state)
                    return failed
                }
                let failure = SessionStoreError.unavailable(Self.describeWriteFailure(error, path: path))
                for waiter in failed { waiter.continuation.resume(throwing: failure) }
                return
            }
        }
    }

    /// A write failure as callers see it: what went wrong with which file, without the
    /// open-time advice ``FileStoreError`` descriptions carry.
    static func describeWriteFailure(_ error: any Error, path: String) -> String {
        switch error {
        case FileStoreError.corrupt(_, let why), FileStoreError.io(_, let why):
            return "cannot write session file \(path): \(why)"
        default:
            return "cannot write session file \(path): \(error)"
        }
    }

    /// Takes unacknowledged logins back out of memory (their rows are marked for deletion).
    private func withdraw(_ created: [(key: SessionKey, handle: String)], from state: inout FileStoreState) {
        guard !created.isEmpty else { return }
        let now = clock.now()
        for (key, handle) in created {
            if state.table.peek(key: key)?.handleText == handle {
                _ = state.table.remove(key: key, now: now)
            } else if state.keys.peek(key: key)?.handle == handle {
                _ = state.keys.remove(key: key)  // an API key whose creation did not commit
                state.pending.mark(apiKey: key, .row)
            }
        }
        state.absorbRemovals()
        // Never acknowledged, so never a session as far as anyone knows: not an ending.
        _ = state.table.takeEndings()
    }
}
