@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Logging

/// A fresh directory under the system temporary directory, removed when the body returns.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("cloakroom-filestore-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

let testLogger: Logger = {
    var logger = Logger(label: "cloakroom.filestore.tests")
    logger.logLevel = .critical  // the failure tests log errors on purpose
    return logger
}()

let testTimeouts = SessionTimeouts(idle: .seconds(30 * 60), absolute: .seconds(12 * 3600), touchInterval: .seconds(60))

func openStore(_ path: String, clock: any WallClock, timeouts: SessionTimeouts = testTimeouts) async throws -> FileSessionStore {
    try await FileSessionStore.open(path: path, timeouts: timeouts, clock: clock, logger: testLogger)
}

/// Runs `body` on an open store and closes it afterwards, also when `body` throws.
func withStore<T>(
    _ path: String, clock: any WallClock, _ body: (FileSessionStore) async throws -> T
) async throws -> T {
    try await withClosing(try await openStore(path, clock: clock), body)
}

/// Fills a store's file with `count` sessions in one statement, far faster than logging them in:
/// subjects `user0…user999`, attributes like a typical login, all created now.
func seed(_ store: FileSessionStore, count: Int, now: Date) async throws {
    let t = now.timeIntervalSince1970
    try await store.core.database.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < \(count))
        INSERT INTO sessions (key, handle, subject, attributes, created_at, last_seen_at)
        SELECT randomblob(32), substr(hex(randomblob(8)), 1, 16), 'user' || (i % 1000),
               '{"sub":"user' || (i % 1000) || '","email":"user' || i || '@example.com","roles":["reader","writer"]}',
               \(t), \(t)
        FROM n
        """,
        doing: "seeding"
    )
}
