@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// Opening: the file's settings, and every way a file can be refused without being harmed.
@Suite struct FileStoreOpeningTests {
    @Test func createsTheFileInWALModeWithFullSync() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            #expect(!FileManager.default.fileExists(atPath: path))
            try await withStore(path, clock: ManualWallClock()) { store async throws in
                #expect(FileManager.default.fileExists(atPath: path))
                let database = store.core.database
                #expect(try await database.integer("PRAGMA synchronous", doing: "test") == 2, "2 is FULL")
                #expect(try await database.integer("PRAGMA user_version", doing: "test") == SessionSchema.latestVersion)
                #expect(FileManager.default.fileExists(atPath: path + "-wal"), "WAL mode keeps a -wal file while open")
            }
        }
    }

    /// The file holds session attributes and single sign-on tokens in plain text: it is
    /// created 0600 whatever the umask, and SQLite gives its `-wal` and `-shm` the same mode.
    @Test func theDatabaseAndItsJournalFilesAreCreatedPrivate() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let previous = umask(0o022)  // the usual umask, which alone would give 0644
            defer { umask(previous) }
            try await withStore(path, clock: ManualWallClock()) { store async throws in
                _ = try await store.create(key: StoreFixture.newKey(), attributes: ["sub": "alice"])
                for file in [path, path + "-wal", path + "-shm", path + ".lock"] {
                    #expect(try permissions(of: file) == 0o600, "\(file)")
                }
            }
            #expect(try permissions(of: path) == 0o600)
        }
    }

    @Test func garbageIsReportedAsCorruptAndLeftUntouched() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) })
            try garbage.write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: FileStoreError.self) {
                _ = try await openStore(path, clock: ManualWallClock())
            }
            guard case .corrupt(let named, _)? = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                return
            }
            #expect(named == path)
            #expect(error?.description.contains(path) == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage, "the file is left exactly as found")
            // And the lock was released: the same failure again, not `.locked`.
            await #expect(throws: FileStoreError.corrupt(path, "reading the schema version: file is not a database")) {
                _ = try await openStore(path, clock: ManualWallClock())
            }
        }
    }

    @Test func aNewerSchemaIsRefusedAndLeftUntouched() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let key = StoreFixture.newKey()
            try await withStore(path, clock: ManualWallClock()) { store async throws in
                _ = try await store.create(key: key, attributes: ["sub": "alice"])
            }
            try setUserVersion(99, of: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await #expect(throws: FileStoreError.unsupportedSchema(path, 99)) {
                _ = try await openStore(path, clock: ManualWallClock())
            }
            #expect(error?.description.contains(path) == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

            // Back at the current version, nothing was lost.
            try setUserVersion(SessionSchema.latestVersion, of: path)
            try await withStore(path, clock: ManualWallClock()) { store async throws in
                #expect(try await store.lookup(key: key)?.subject == "alice")
            }
        }
    }

    @Test func anotherProgramsDatabaseIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("other.db").path
            try await withStore(path, clock: ManualWallClock()) { _ in }
            try setUserVersion(0, of: path)  // tables, but no version: not ours to migrate
            await #expect {
                _ = try await openStore(path, clock: ManualWallClock())
            } throws: { error in
                guard case FileStoreError.corrupt(let named, let why) = error else { return false }
                return named == path && why.contains("another program")
            }
        }
    }

    @Test func aMissingDirectoryIsAnIOError() async throws {
        let path = "/nonexistent-\(UUID().uuidString)/sessions.db"
        await #expect {
            _ = try await openStore(path, clock: ManualWallClock())
        } throws: { error in
            guard case FileStoreError.io(let named, _) = error else { return false }
            return named == path
        }
    }

    @Test func aSecondOpenIsLockedOutUntilTheFirstCloses() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let first = try await openStore(path, clock: ManualWallClock())
            let error = await #expect(throws: FileStoreError.locked(path)) {
                _ = try await openStore(path, clock: ManualWallClock())
            }
            #expect(error?.description.contains("another cloakroom") == true)
            #expect(error?.description.contains(path) == true)
            try await first.close()
            try await first.close()  // a second close does nothing
            await #expect(throws: SessionStoreError.self) { _ = try await first.create(key: StoreFixture.newKey(), attributes: ["sub": "a"]) }
            try await withStore(path, clock: ManualWallClock()) { _ in }
        }
    }

    /// The same file under another name is the same file (found by an audit: a second serve
    /// through a symbolic or a hard link started, and logins acknowledged by one were lost).
    @Test(arguments: ["symbolic", "hard"])
    func anotherNameForTheFileIsLockedOutToo(link: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let other = directory.appendingPathComponent("other.db").path
            let first = try await openStore(path, clock: ManualWallClock())
            if link == "symbolic" {
                try FileManager.default.createSymbolicLink(atPath: other, withDestinationPath: path)
            } else {
                try FileManager.default.linkItem(atPath: path, toPath: other)
            }
            await #expect(throws: FileStoreError.locked(other)) {
                _ = try await openStore(other, clock: ManualWallClock())
            }
            try await first.close()
            try await withStore(other, clock: ManualWallClock()) { _ in }  // once the first is gone
        }
    }

    /// A file some other program holds exclusively (an `sqlite3` session in an exclusive
    /// transaction) makes the open fail within the busy timeout, naming the file, instead of
    /// hanging the start without a word (found by an audit).
    @Test func aFileHeldExclusivelyElsewhereFailsTheOpenInSeconds() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            try await withStore(path, clock: ManualWallClock()) { _ in }
            let ready = directory.appendingPathComponent("held").path
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            holder.arguments = [
                "-c",
                """
                import sqlite3, time, sys
                c = sqlite3.connect(sys.argv[1], isolation_level=None)
                c.execute("PRAGMA locking_mode=EXCLUSIVE"); c.execute("BEGIN EXCLUSIVE"); c.execute("SELECT count(*) FROM sessions")
                open(sys.argv[2], "w").close(); time.sleep(60)
                """,
                path, ready,
            ]
            try holder.run()
            defer { kill(holder.processIdentifier, SIGKILL) }
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: ready) { try await Task.sleep(for: .milliseconds(50)) }
            let started = ContinuousClock.now
            await #expect {
                _ = try await openStore(path, clock: ManualWallClock())
            } throws: { error in
                guard case FileStoreError.io(let named, _) = error else { return false }
                return named == path
            }
            #expect(ContinuousClock.now - started < .seconds(30), "bounded by the busy timeout (5 s), not forever")
        }
    }

    @Test func anotherProcessHoldingTheLockKeepsUsOut() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            // flock(1) takes the same kind of lock another cloakroom would and holds it while
            // `sleep` runs (--no-fork: killing the process releases it).
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            holder.arguments = ["--exclusive", "--no-fork", path + ".lock", "sleep", "30"]
            try holder.run()
            // SIGKILL, not terminate(): the test runner's threads may block SIGTERM, and a
            // spawned child inherits that mask.
            defer { kill(holder.processIdentifier, SIGKILL) }
            var sawLock = false
            for _ in 0..<100 where !sawLock {
                do {
                    try await withStore(path, clock: ManualWallClock()) { _ in }
                    try await Task.sleep(for: .milliseconds(20))  // flock(1) has not locked yet
                } catch FileStoreError.locked(let named) {
                    #expect(named == path)
                    sawLock = true
                }
            }
            #expect(sawLock)
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
            try await withStore(path, clock: ManualWallClock()) { _ in }
        }
    }

    /// Rewrites the schema version in the database header (bytes 60–63, big-endian), the way a
    /// newer or foreign program would have left it. The file must be closed (no WAL pending).
    private func setUserVersion(_ version: Int, of path: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: 60)
        try handle.write(contentsOf: withUnsafeBytes(of: UInt32(version).bigEndian) { Data($0) })
    }
}

/// The permission bits of the file at `path` (`0o600`).
private func permissions(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
