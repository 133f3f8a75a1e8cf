import CloakroomSessions
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import SQLiteNIO

/// The SQLite file behind a ``FileSessionStore``: one connection in WAL mode with
/// `synchronous=FULL`, so a commit that returned survives a crash or a power cut.
///
/// Every statement runs on the store's own `NIOThreadPool` (through SQLiteNIO), never on an
/// event loop or the cooperative pool. The connection is used by one task at a time: the
/// opener, then the writer, then `close`; nothing here is safe to call concurrently.
final class SessionDatabase: Sendable {
    let path: String
    let connection: SQLiteConnection
    /// The pool the connection runs on (the loader also indexes on it).
    let threadPool: NIOThreadPool

    private init(path: String, connection: SQLiteConnection, threadPool: NIOThreadPool) {
        self.path = path
        self.connection = connection
        self.threadPool = threadPool
    }

    /// Opens (creating if absent) and brings the schema to the latest version. A file that is
    /// not a database, is another program's database, or is newer than this build is refused
    /// before anything is written to it.
    static func open(path: String, threadPool: NIOThreadPool, logger: Logger) async throws -> SessionDatabase {
        try await threadPool.runIfActive { try createDatabaseFilePrivately(path) }
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            throw FileStoreError.io(path, "cannot open: \(Self.describe(error))")
        }
        let database = SessionDatabase(path: path, connection: connection, threadPool: threadPool)
        do {
            try await database.prepareSchema()
        } catch {
            try? await connection.close()
            throw error
        }
        return database
    }

    func close() async throws {
        do {
            try await connection.close()
        } catch {
            throw FileStoreError.io(path, "closing: \(Self.describe(error))")
        }
    }

    // MARK: Schema

    private func prepareSchema() async throws {
        // SQLiteNIO's default busy handler retries forever; a bounded wait turns a stuck
        // outside reader into an error instead of a hung writer. First of all: a file another
        // process holds exclusively would otherwise hang the start with no word (found by an
        // audit).
        try await execute("PRAGMA busy_timeout = 5000", doing: "configuring")
        // Read before changing anything, so a newer or foreign file is left as it was found.
        let version = try await integer("PRAGMA user_version", doing: "reading the schema version")
        guard version <= SessionSchema.latestVersion else {
            throw FileStoreError.unsupportedSchema(path, version)
        }
        if version == 0 {
            let objects = try await integer("SELECT count(*) FROM sqlite_schema", doing: "reading the schema")
            guard objects == 0 else {
                throw FileStoreError.corrupt(path, "schema version 0 but \(objects) tables or indexes: another program's database?")
            }
        }
        let mode = try await text("PRAGMA journal_mode = WAL", doing: "enabling WAL")
        guard mode.lowercased() == "wal" else {
            throw FileStoreError.io(path, "cannot use WAL journal mode (the file system gave \(mode))")
        }
        // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and a
        // login is acknowledged only once its commit is durable.
        try await execute("PRAGMA synchronous = FULL", doing: "configuring")

        let steps = SessionSchema.migrations(from: version)
        guard !steps.isEmpty else { return }
        try await transaction(doing: "migrating the schema from version \(version)") {
            for step in steps {
                for statement in step.statements {
                    try await self.execute(statement, doing: "migrating to version \(step.version)")
                }
            }
            try await self.execute("PRAGMA user_version = \(SessionSchema.latestVersion)", doing: "migrating")
        }
    }

    // MARK: Statements

    /// Runs one statement, mapping SQLite failures to ``FileStoreError`` naming the file.
    func run(
        _ sql: String, _ binds: [SQLiteData] = [], doing activity: String,
        _ onRow: @escaping @Sendable (SQLiteRow) -> Void = { _ in }
    ) async throws {
        do {
            // The concrete `SQLiteConnection` method: rows are handed over on the thread pool,
            // not hopped one by one onto an event loop.
            try await connection.query(sql, binds, onRow)
        } catch let error as SQLiteError where Self.isCorruption(error.reason) {
            throw FileStoreError.corrupt(path, "\(activity): \(error.message)")
        } catch {
            throw FileStoreError.io(path, "\(activity): \(Self.describe(error))")
        }
    }

    func execute(_ sql: String, _ binds: [SQLiteData] = [], doing activity: String) async throws {
        try await run(sql, binds, doing: activity)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if anything fails.
    func transaction(doing activity: String, _ body: () async throws -> Void) async throws {
        try await execute("BEGIN IMMEDIATE", doing: activity)
        do {
            try await body()
            try await execute("COMMIT", doing: activity)
        } catch {
            try? await execute("ROLLBACK", doing: activity)
            throw error
        }
    }

    func integer(_ sql: String, doing activity: String) async throws -> Int {
        let box = RowBox()
        try await run(sql, doing: activity) { row in box.value = row.columns.first?.data }
        return box.value?.integer ?? 0
    }

    private func text(_ sql: String, doing activity: String) async throws -> String {
        let box = RowBox()
        try await run(sql, doing: activity) { row in box.value = row.columns.first?.data }
        return box.value?.string ?? ""
    }

    /// Failures that mean the file's content is wrong, as opposed to the disk or the system.
    /// `SQLITE_ERROR` is a statement that does not fit the tables ("no such table", "table
    /// already exists"): the file holds some other schema than the version it claims.
    private static func isCorruption(_ reason: SQLiteError.Reason) -> Bool {
        switch reason {
        case .corrupt, .corruptIndex, .corruptSequenceSchema, .corruptVirtualTable, .notADatabase, .error: return true
        default: return false
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SQLiteError { return error.message }
        return "\(error)"
    }
}

/// Creates the database file, empty and mode 0600, when it does not exist yet. It holds session
/// attributes and single sign-on tokens in plain text, and SQLite would create it with the
/// umask's mode (0644 typically); SQLite gives the `-wal` and `-shm` files the main file's
/// mode, so those are private too. An existing file is left to SQLite as it is (`O_EXCL`: no
/// truncation, no `chmod`; its mode is the operator's). SQLite takes an empty file for a new
/// database.
///
/// - Important: Blocking system calls: run it on the thread pool.
private func createDatabaseFilePrivately(_ path: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        let code = errno
        if code == EEXIST { return }
        throw FileStoreError.io(path, "cannot create: \(String(cString: strerror(code)))")
    }
    close(descriptor)
}

/// Carries a single result out of SQLiteNIO's row callback.
///
/// `@unchecked Sendable`: the callback runs on the thread pool strictly before the query's
/// `await` returns, so the write and the later read are ordered by that hand-off.
private final class RowBox: @unchecked Sendable {
    var value: SQLiteData?
}
