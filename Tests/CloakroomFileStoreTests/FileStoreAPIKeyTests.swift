@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// API keys in the file store: the shared checks against a fresh file each time; keys, their
/// `last_used_at` and their revocations survive a restart; a file of schema version 3 (before
/// API keys) gains the table and keeps its sessions; keys expired while stopped are reported
/// when the audit log attaches.
@Suite struct FileStoreAPIKeyTests {
    @Test(arguments: APIKeyStoreConformance.Check.allCases)
    func apiKeys(_ check: APIKeyStoreConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await APIKeyStoreConformance { clock, timeouts in
                try await openStore(directory.appendingPathComponent("sessions.db").path, clock: clock, timeouts: timeouts)
            }.run(check)
        }
    }

    @Test func keysSurviveARestart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let kept = APIKeySecret.random(), revoked = APIKeySecret.random(), unnamed = APIKeySecret.random()
            let (made, usedAt) = try await withStore(path, clock: clock) { store async throws in
                let made = try await store.createKey(
                    key: kept.key, attributes: ["sub": "ci-bot", "team": "infra"], name: "deploy", ttl: .hours(48))
                let gone = try await store.createKey(key: revoked.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(48))
                _ = try await store.createKey(key: unnamed.key, attributes: ["sub": "bob"], name: nil, ttl: .hours(48))
                #expect(try await store.revokeKey(handle: gone.handle))
                clock.advance(by: .minutes(5))
                let usedAt = clock.now()
                #expect(try await store.lookupKey(key: kept.key) != nil)  // written behind, flushed by close
                return (made, usedAt)
            }
            clock.advance(by: .minutes(1))
            try await withStore(path, clock: clock) { store async throws in
                let found = try #require(try store.lookupKeyNow(key: kept.key))
                #expect(found.handle == made.handle && found.name == "deploy")
                #expect(found.attributes == ["sub": "ci-bot", "team": "infra"])
                #expect(found.createdAt == made.createdAt && found.expiresAt == made.expiresAt)
                #expect(found.lastUsedAt == clock.now(), "a minute later: touched again")
                #expect(try await store.lookupKey(key: revoked.key) == nil, "a revoke is durable")
                let bob = try #require(try await store.apiKeys(subject: "bob").first)
                #expect(bob.name == nil && bob.lastUsedAt == nil)
                #expect(try await store.sessions(subject: nil).isEmpty, "keys never load as sessions")
            }
            // The touch before the restart reached the file.
            try await withStore(path, clock: clock) { store async throws in
                let listed = try await store.apiKeys(subject: "ci-bot")
                #expect(listed.map(\.handle) == [made.handle])
                #expect(listed.first?.lastUsedAt ?? .distantPast > usedAt)
            }
        }
    }

    /// Revoking everyone's sessions deletes every session row, and no key row.
    @Test func revokeAllKeepsTheKeyRows() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let secret = APIKeySecret.random()
            try await withStore(path, clock: clock) { store async throws in
                _ = try await store.createKey(key: secret.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(1))
                _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "ci-bot"])
                #expect(try await store.revokeAll() == 1)
            }
            try await withStore(path, clock: clock) { store async throws in
                #expect(try await store.lookupKey(key: secret.key) != nil)
            }
        }
    }

    @Test func keysExpiredWhileStoppedAreDeletedAndReported() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let short = APIKeySecret.random(), long = APIKeySecret.random()
            let expiring = try await withStore(path, clock: clock) { store async throws in
                _ = try await store.createKey(key: long.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(10))
                return try await store.createKey(key: short.key, attributes: ["sub": "ci-bot"], name: nil, ttl: .hours(1))
            }
            clock.advance(by: .hours(2))
            try await withStore(path, clock: clock) { store async throws in
                let audit = AuditRecorder()
                store.observeAudit { audit.append($0) }
                let keyEvents = audit.all.filter { $0.event.credential == .apiKey }
                #expect(keyEvents.map(\.event.handle) == [expiring.handle])
                #expect(keyEvents.first?.event.kind == .ended(.absolute))
                #expect(try await store.core.database.integer("SELECT count(*) FROM api_keys", doing: "test") == 1)
                #expect(try await store.lookupKey(key: long.key) != nil)
            }
        }
    }

    /// A file of schema version 3 (governance's, before API keys), written by SQLite itself:
    /// opening adds the keys table and keeps every session.
    @Test func aVersionThreeFileGainsKeysAndKeepsItsSessions() async throws {
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
                ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
                ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
                INSERT INTO sessions (key, handle, subject, attributes, created_at, last_seen_at, client, user_agent)
                    VALUES (X'\(keyHex)', 'AAAAAAAAAAAAAAAA', 'alice', '{"sub":"alice"}', \(t), \(t), '192.0.2.1', 'curl/8');
                PRAGMA user_version = 3;
                """
            let sqlite = Process()
            sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            sqlite.arguments = [path, script]
            try sqlite.run()
            sqlite.waitUntilExit()
            #expect(sqlite.terminationStatus == 0)

            let secret = APIKeySecret.random()
            try await withStore(path, clock: clock) { store async throws in
                #expect(try await store.lookup(key: key)?.origin.client == "192.0.2.1")
                #expect(try await store.apiKeys(subject: nil).isEmpty)
                _ = try await store.createKey(key: secret.key, attributes: ["sub": "alice"], name: "ci", ttl: .hours(1))
                #expect(try await store.core.database.integer("PRAGMA user_version", doing: "test") == SessionSchema.latestVersion)
            }
            try await withStore(path, clock: clock) { store async throws in
                #expect(try await store.lookup(key: key) != nil)
                #expect(try await store.lookupKey(key: secret.key)?.name == "ci")
            }
        }
    }
}
