import CloakroomSessions
import struct Foundation.Date
import NIOCore
import SQLiteNIO

/// Reading every session at start and writing batches of changed rows.
extension SessionDatabase {
    /// Rows per multi-row statement: large enough that a big batch is a handful of statements
    /// (each one a thread-pool hop and a prepare), small enough to keep statements short.
    static let rowsPerStatement = 1_000

    /// Every unexpired session, in a table ready to serve, and the expired ones by reason
    /// (their rows are deleted). One pass over the file, indexed while it is read (see
    /// ``SessionLoader``).
    /// The expired ones' tally carries an audit event each, up to
    /// ``SessionLoader/maxExpiredEvents``.
    func loadSessions(timeouts: SessionTimeouts, now: Date) async throws -> (table: MemorySessionTable, expired: Endings) {
        let rowCount = try await integer("SELECT count(*) FROM sessions", doing: "counting sessions")
        // Expiry as the DELETE below evaluates it (the same comparisons on the same doubles),
        // so a row is either loaded or deleted, never both or neither.
        let idleCutoff = now.timeIntervalSince1970 - timeouts.idle.timeInterval
        let absoluteCutoff = now.timeIntervalSince1970 - timeouts.absolute.timeInterval
        let loader = SessionLoader(timeouts: timeouts, capacity: rowCount, idleCutoff: idleCutoff, absoluteCutoff: absoluteCutoff)

        async let indexed = threadPool.runIfActive { loader.consume() }
        do {
            try await run(
                "SELECT key, handle, subject, attributes, created_at, last_seen_at, secrets, links, client, user_agent FROM sessions",
                doing: "loading sessions"
            ) { row in loader.add(row) }
        } catch {
            try? await threadPool.runIfActive { loader.finishProducing() }
            _ = try? await indexed
            throw error
        }
        try await threadPool.runIfActive { loader.finishProducing() }
        let table = try await indexed
        guard let table, loader.damage == nil else {
            throw FileStoreError.corrupt(path, loader.damage ?? "unreadable sessions")
        }
        if !loader.expired.isEmpty {
            try await execute(
                "DELETE FROM sessions WHERE last_seen_at <= ?1 OR created_at <= ?2",
                [.float(idleCutoff), .float(absoluteCutoff)], doing: "deleting expired sessions"
            )
        }
        return (table, loader.expired)
    }

    /// Writes a batch in one transaction (one fsync): deletes first, so a revoke-all followed
    /// by new logins in the same batch leaves the new rows.
    func write(_ batch: WriteBatch) async throws {
        try await transaction(doing: "writing sessions") {
            if batch.clearsAll {
                try await self.execute("DELETE FROM sessions", doing: "revoking all sessions")
            }
            for chunk in batch.deletes.chunks(of: Self.rowsPerStatement) {
                try await self.execute(
                    "DELETE FROM sessions WHERE key IN (\(Self.placeholders(rows: chunk.count, columns: 1)))",
                    chunk.map(Self.keyData), doing: "deleting sessions"
                )
            }
            for chunk in batch.upserts.chunks(of: Self.rowsPerStatement) {
                var binds: [SQLiteData] = []
                binds.reserveCapacity(chunk.count * 10)
                for (key, record, secrets, links) in chunk {
                    binds.append(Self.keyData(key))
                    binds.append(.text(record.handleText))
                    binds.append(.text(record.subject))
                    binds.append(.text(String(decoding: record.attributes, as: UTF8.self)))
                    binds.append(.float(record.createdAt.timeIntervalSince1970))
                    binds.append(.float(record.lastSeenAt.timeIntervalSince1970))
                    binds.append(.text(String(decoding: secrets, as: UTF8.self)))
                    binds.append(.text(links.joined(separator: "\n")))
                    binds.append(.text(record.origin.client))
                    binds.append(.text(record.origin.userAgent))
                }
                try await self.execute(
                    """
                    INSERT INTO sessions (key, handle, subject, attributes, created_at, last_seen_at, secrets, links, client, user_agent)
                    VALUES \(Self.placeholders(rows: chunk.count, columns: 10))
                    ON CONFLICT (key) DO UPDATE SET handle = excluded.handle, subject = excluded.subject,
                        attributes = excluded.attributes, created_at = excluded.created_at,
                        last_seen_at = excluded.last_seen_at, secrets = excluded.secrets, links = excluded.links,
                        client = excluded.client, user_agent = excluded.user_agent
                    """,
                    binds, doing: "writing sessions"
                )
            }
            for chunk in batch.touches.chunks(of: Self.rowsPerStatement) {
                var binds: [SQLiteData] = []
                binds.reserveCapacity(chunk.count * 2)
                for (key, lastSeenAt) in chunk {
                    binds.append(Self.keyData(key))
                    binds.append(.float(lastSeenAt.timeIntervalSince1970))
                }
                try await self.execute(
                    """
                    UPDATE sessions SET last_seen_at = touched.column2
                    FROM (VALUES \(Self.placeholders(rows: chunk.count, columns: 2))) AS touched
                    WHERE sessions.key = touched.column1
                    """,
                    binds, doing: "writing last_seen_at"
                )
            }
            try await self.writeKeys(batch)
        }
    }

    static func keyData(_ key: SessionKey) -> SQLiteData {
        .blob(ByteBuffer(bytes: key.rawBytes))
    }

    /// `(?,?),(?,?)…` for a multi-row statement.
    static func placeholders(rows: Int, columns: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        return Array(repeating: row, count: rows).joined(separator: ",")
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
