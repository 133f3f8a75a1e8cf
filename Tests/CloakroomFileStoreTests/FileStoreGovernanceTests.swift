import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// Session governance in the file store: the shared checks against a fresh file each time; the
/// origin survives a restart; a file written before governance (schema version 2) opens with
/// its sessions kept; sessions found expired at start are reported once an audit log attaches.
@Suite struct FileStoreGovernanceTests {
    @Test(arguments: GovernanceConformance.Check.allCases)
    func governance(_ check: GovernanceConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await GovernanceConformance { clock, timeouts in
                try await openStore(directory.appendingPathComponent("sessions.db").path, clock: clock, timeouts: timeouts)
            }.run(check)
        }
    }

    @Test func originSurvivesARestart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let origin = SessionOrigin(client: "203.0.113.9", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15")
            try await withStore(path, clock: clock) { store in
                _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: origin, maxPerUser: 0)
            }
            try await withStore(path, clock: clock) { store in
                let listed = try await store.sessions(subject: "alice")
                #expect(listed.map(\.origin) == [origin])
            }
        }
    }

    /// A file of schema version 2 (single sign-on's, before governance), written by SQLite
    /// itself: opening migrates it in place and keeps every session, with no origin.
    @Test func aVersionTwoFileKeepsItsSessions() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let t = clock.now().timeIntervalSince1970
            let key = SessionID.random().key
            let keyHex = key.rawBytes.map { String(format: "%02x", $0) }.joined()
            let script = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE sessions (
                    key BLOB NOT NULL PRIMARY KEY CHECK (length(key) = 32), handle TEXT NOT NULL, subject TEXT NOT NULL,
                    attributes TEXT NOT NULL, created_at REAL NOT NULL, last_seen_at REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX sessions_by_subject ON sessions (subject);
                CREATE INDEX sessions_by_handle ON sessions (handle);
                ALTER TABLE sessions ADD COLUMN secrets TEXT NOT NULL DEFAULT '';
                ALTER TABLE sessions ADD COLUMN links TEXT NOT NULL DEFAULT '';
                INSERT INTO sessions (key, handle, subject, attributes, created_at, last_seen_at)
                    VALUES (X'\(keyHex)', 'AAAAAAAAAAAAAAAA', 'alice', '{"sub":"alice","email":"a@example.com"}', \(t), \(t));
                PRAGMA user_version = 2;
                """
            let sqlite = Process()
            sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            sqlite.arguments = [path, script]
            try sqlite.run()
            sqlite.waitUntilExit()
            #expect(sqlite.terminationStatus == 0)

            try await withStore(path, clock: clock) { store in
                let session = try #require(try await store.lookup(key: key))
                #expect(session.handle == "AAAAAAAAAAAAAAAA")
                #expect(session.attributes == ["sub": "alice", "email": "a@example.com"])
                #expect(session.origin == .unknown)
                // New sessions record their origin in the migrated file.
                _ = try await store.create(
                    key: SessionID.random().key, attributes: ["sub": "bob"], origin: SessionOrigin(client: "::1", userAgent: "curl/8"),
                    maxPerUser: 0)
            }
            try await withStore(path, clock: clock) { store in
                let kept = try await store.lookup(key: key)
                let bob = try await store.sessions(subject: "bob")
                #expect(kept != nil)
                #expect(bob.first?.origin.client == "::1")
            }
        }
    }

    /// Sessions that expired while no proxy ran are deleted at start; the audit log hears of
    /// each when it attaches.
    @Test func sessionsExpiredWhileStoppedAreReportedWhenTheAuditLogAttaches() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let origin = SessionOrigin(client: "192.0.2.44", userAgent: "ua")
            let created = try await withStore(path, clock: clock) { store in
                try await store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: origin, maxPerUser: 0)
            }
            clock.advance(by: .hours(13))
            try await withStore(path, clock: clock) { store in
                let audit = AuditRecorder()
                store.observeAudit { audit.append($0) }
                #expect(audit.all.map(\.event) == [SessionAuditEvent(kind: .ended(.idle), handle: created.handle, subject: "alice", client: "192.0.2.44")])
            }
        }
    }
}
