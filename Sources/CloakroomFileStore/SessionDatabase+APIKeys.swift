import CloakroomSessions
import struct Foundation.Date
import NIOCore
import SQLiteNIO

/// The `api_keys` table (schema version 4): every key loaded at open, changed rows written in
/// the same transactions as the sessions'.
extension SessionDatabase {
    /// Every unexpired key, in a table ready to serve, and the expired ones (their rows are
    /// deleted). A row that cannot be read makes the file unloadable, as a session row does.
    func loadAPIKeys(now: Date) async throws -> (keys: APIKeyTable, expired: [APIKey]) {
        let loaded = LoadedKeys()
        let cutoff = now.timeIntervalSince1970
        try await run(
            "SELECT key, handle, subject, name, attributes, created_at, last_used_at, expires_at FROM api_keys",
            doing: "loading API keys"
        ) { row in
            guard loaded.damage == nil else { return }
            guard let (key, record) = Self.apiKey(from: row) else {
                loaded.damage = "an API key row has a malformed key, handle, subject, attributes or times"
                return
            }
            if record.expiresAt.timeIntervalSince1970 <= cutoff {
                loaded.expired.append(record)
            } else if !loaded.table.insert(key: key, record) {
                loaded.damage = "two API key rows have the same handle"
            }
        }
        let (table, expired, damage) = (loaded.table, loaded.expired, loaded.damage)
        if let damage { throw FileStoreError.corrupt(path, damage) }
        if !expired.isEmpty {
            try await execute("DELETE FROM api_keys WHERE expires_at <= ?1", [.float(cutoff)], doing: "deleting expired API keys")
        }
        return (table, APIKeyTable.oldestFirst(expired))
    }

    private static func apiKey(from row: SQLiteRow) -> (SessionKey, APIKey)? {
        guard let keyBytes = row.column("key")?.blob, let key = SessionKey(rawBytes: Array(keyBytes.readableBytesView)),
            case .text(let handle)? = row.column("handle"), SessionHandle.isWellFormed(handle),
            case .text(let subject)? = row.column("subject"), !subject.isEmpty,
            case .text(let attributesText)? = row.column("attributes"),
            let attributes = try? DamagedSessionRecord.attributes(text: attributesText),
            attributes["sub"] == .string(subject),
            let createdAt = row.column("created_at")?.double, let expiresAt = row.column("expires_at")?.double
        else { return nil }
        var name: String?
        if case .text(let text)? = row.column("name") { name = text }
        let lastUsedAt = row.column("last_used_at")?.double.map { Date(timeIntervalSince1970: $0) }
        return (key, APIKey(
            handle: handle, name: name, attributes: attributes, createdAt: Date(timeIntervalSince1970: createdAt),
            lastUsedAt: lastUsedAt, expiresAt: Date(timeIntervalSince1970: expiresAt)))
    }

    /// The key rows of `batch`, inside the caller's transaction.
    func writeKeys(_ batch: WriteBatch) async throws {
        for chunk in batch.keyDeletes.chunks(of: Self.rowsPerStatement) {
            try await execute(
                "DELETE FROM api_keys WHERE key IN (\(Self.placeholders(rows: chunk.count, columns: 1)))",
                chunk.map(Self.keyData), doing: "deleting API keys"
            )
        }
        for chunk in batch.keyUpserts.chunks(of: Self.rowsPerStatement) {
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 8)
            for (key, record) in chunk {
                binds.append(Self.keyData(key))
                binds.append(.text(record.handle))
                binds.append(.text(record.subject))
                binds.append(record.name.map(SQLiteData.text) ?? .null)
                binds.append(.text(JSONValue.object(record.attributes).jsonText))
                binds.append(.float(record.createdAt.timeIntervalSince1970))
                binds.append(record.lastUsedAt.map { .float($0.timeIntervalSince1970) } ?? .null)
                binds.append(.float(record.expiresAt.timeIntervalSince1970))
            }
            try await execute(
                """
                INSERT INTO api_keys (key, handle, subject, name, attributes, created_at, last_used_at, expires_at)
                VALUES \(Self.placeholders(rows: chunk.count, columns: 8))
                ON CONFLICT (key) DO UPDATE SET handle = excluded.handle, subject = excluded.subject, name = excluded.name,
                    attributes = excluded.attributes, created_at = excluded.created_at,
                    last_used_at = excluded.last_used_at, expires_at = excluded.expires_at
                """,
                binds, doing: "writing API keys"
            )
        }
        for (key, lastUsedAt) in batch.keyTouches {
            try await execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE key = ?1",
                [Self.keyData(key), .float(lastUsedAt.timeIntervalSince1970)], doing: "writing API key last_used_at"
            )
        }
    }
}

/// What the loading query's row callback builds.
///
/// `@unchecked Sendable`: SQLiteNIO calls the callback on one thread, in order, strictly before
/// the query's `await` returns, and the fields are read only after that (as ``RowBox``).
private final class LoadedKeys: @unchecked Sendable {
    var table = APIKeyTable()
    var expired: [APIKey] = []
    var damage: String?
}
