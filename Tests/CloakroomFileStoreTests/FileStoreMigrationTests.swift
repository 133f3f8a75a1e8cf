@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// Schema version 2 (single sign-on's private part and links) keeps the sessions of a version 1
/// file, written the way an older cloakroom wrote it.
@Suite struct FileStoreMigrationTests {
    @Test func aVersionOneFileKeepsItsSessions() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let key = StoreFixture.newKey()
            let hex = key.rawBytes.map { String(format: "%02x", $0) }.joined()
            let handle = SessionHandle.random()
            let now = clock.now().timeIntervalSince1970
            // Version 1 exactly as released (SessionSchema.migrations[0]), by another SQLite client.
            let script = """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1])
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(\"\"\"CREATE TABLE sessions (key BLOB NOT NULL PRIMARY KEY CHECK (length(key) = 32),
                    handle TEXT NOT NULL, subject TEXT NOT NULL, attributes TEXT NOT NULL,
                    created_at REAL NOT NULL, last_seen_at REAL NOT NULL) WITHOUT ROWID\"\"\")
                db.execute("CREATE INDEX sessions_by_subject ON sessions (subject)")
                db.execute("CREATE INDEX sessions_by_handle ON sessions (handle)")
                db.execute("INSERT INTO sessions VALUES (?, ?, 'alice', '{\\"sub\\":\\"alice\\",\\"role\\":\\"x\\"}', ?, ?)",
                           (bytes.fromhex(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[4])))
                db.execute("PRAGMA user_version = 1")
                db.commit()
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, path, hex, handle, String(now)]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)

            let store = try await openStore(path, clock: clock)
            #expect(try await store.core.database.integer("PRAGMA user_version", doing: "test") == 4)
            let session = try await store.lookup(key: key)
            #expect(session?.attributes == ["sub": "alice", "role": "x"])
            #expect(session?.handle == handle)
            #expect(try await store.secrets(key: key) == [:], "an old session has an empty private part")
            let sso = StoreFixture.newKey()
            _ = try await store.create(key: sso, attributes: ["sub": "bob"], secrets: ["access_token": "a"], links: ["sid:x"])
            try await store.close()

            let reopened = try await openStore(path, clock: clock)
            #expect(try await reopened.lookup(key: key)?.subject == "alice")
            #expect(try await reopened.secrets(key: sso) == ["access_token": "a"])
            try await reopened.close()
        }
    }
}
