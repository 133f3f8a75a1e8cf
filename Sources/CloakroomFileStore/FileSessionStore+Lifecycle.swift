import CloakroomSessions
import Logging
import NIOPosix

extension FileSessionStore {
    /// Opens the store at `path`, creating the file if absent, and loads every unexpired
    /// session into memory in one pass; expired rows are deleted. Returns once sessions can be
    /// served.
    ///
    /// - Throws: ``FileStoreError/locked(_:)`` when another store (in this process or another)
    ///   has the file open; ``FileStoreError/corrupt(_:_:)`` for a file that is not a cloakroom
    ///   session database; ``FileStoreError/unsupportedSchema(_:_:)`` for one written by a newer
    ///   cloakroom; ``FileStoreError/io(_:_:)`` when it cannot be read or created. An existing
    ///   file is never deleted or recreated.
    public static func open(
        path: String, timeouts: SessionTimeouts, clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> FileSessionStore {
        let started = ContinuousClock.now
        // Its own threads: a slow fsync then delays only this store, not other users of a
        // shared pool. The connection is used by one task at a time; the second thread lets
        // loading index rows while SQLite reads them.
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        var lock: FileLock?
        var database: SessionDatabase?
        do {
            lock = try await threadPool.runIfActive { try FileLock.acquire(databasePath: path) }
            let opened = try await SessionDatabase.open(path: path, threadPool: threadPool, logger: logger)
            database = opened
            if let held = lock {  // a file SQLite has just made: its own lock now
                lock = try await threadPool.runIfActive { try held.lockingDatabaseFile(path) }
            }
            let (table, expired) = try await opened.loadSessions(timeouts: timeouts, now: clock.now())
            expired.report()
            let (keys, expiredKeys) = try await opened.loadAPIKeys(now: clock.now())
            let keyEndings = APIKeyEvents(expired: expiredKeys)
            keyEndings.reportMetrics()

            let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let core = FileStoreCore(
                path: path, clock: clock, logger: logger,
                database: opened, table: table, wakeups: wake, eventsAtOpen: expired.events + keyEndings.auditEvents, keys: keys
            )
            let writer = Task { await core.runWriter(wakeups) }
            let flusher = Task { await flushPeriodically(core) }
            logger.info("session store opened", metadata: [
                "path": "\(path)", "sessions": "\(table.count)", "api_keys": "\(keys.count)",
                "expired_deleted": "\(expired.idle + expired.absolute)",
                "seconds": "\((ContinuousClock.now - started).timeInterval)",
            ])
            return FileSessionStore(core: core, writer: writer, flusher: flusher, lock: lock!, threadPool: threadPool)
        } catch {
            try? await database?.close()
            if let lock { try? await threadPool.runIfActive { lock.release() } }
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    /// Writes everything pending (touches included), closes the database and releases the
    /// lock. Later operations throw ``SessionStoreError/unavailable(_:)``. Calling it again
    /// does nothing.
    ///
    /// - Throws: ``SessionStoreError/unavailable(_:)`` when some changes could not be written,
    ///   or ``FileStoreError/io(_:_:)`` when the database would not close cleanly. The lock is
    ///   released either way.
    public func close() async throws {
        guard core.shutDownWriter() else { return }
        flusher.cancel()
        await writer.value
        let unwritten = core.state.withLock { $0.pending.hasChanges }
        var failure: (any Error)?
        do {
            try await core.database.close()
        } catch {
            failure = error
        }
        let lock = self.lock
        try? await threadPool.runIfActive { lock.release() }
        try? await threadPool.shutdownGracefully()
        if unwritten {
            throw SessionStoreError.unavailable("\(path): some session changes could not be written before closing")
        }
        if let failure { throw failure }
    }

    /// How often written-behind touches are flushed: twice per touch interval, so none is more
    /// than a touch interval late (and no busier than ten times a second).
    static func flushInterval(for timeouts: SessionTimeouts) -> Duration {
        max(timeouts.touchInterval / 2, .milliseconds(100))
    }

    /// The interval follows the touch interval in force (a reload may change it).
    private static func flushPeriodically(_ core: FileStoreCore) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: flushInterval(for: core.timeouts))
            } catch {
                return
            }
            core.wakeWriter()
        }
    }
}
