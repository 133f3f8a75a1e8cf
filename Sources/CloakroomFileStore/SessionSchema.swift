/// The file's schema, versioned through `PRAGMA user_version`.
///
/// A new version is a new entry at the end of ``migrations``: opening a file at version `v`
/// runs every migration above `v` in one transaction, then sets `user_version`. Entries are
/// never edited once released, so any older file can be brought forward step by step. A file
/// whose version is above ``latestVersion`` was written by a newer cloakroom and is refused.
enum SessionSchema {
    struct Migration {
        /// The version the file has after this migration.
        let version: Int
        let statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, statements: [
            // The key is SHA-256 of the session ID (never the ID itself), so a copy of the file
            // cannot be replayed as cookies. Times are Unix seconds as REAL: exact for the
            // Double that `Date` holds, and readable with `datetime(created_at, 'unixepoch')`.
            // WITHOUT ROWID: rows are looked up and replaced by key, so one B-tree, not two.
            """
            CREATE TABLE sessions (
                key BLOB NOT NULL PRIMARY KEY CHECK (length(key) = 32),
                handle TEXT NOT NULL,
                subject TEXT NOT NULL,
                attributes TEXT NOT NULL,
                created_at REAL NOT NULL,
                last_seen_at REAL NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX sessions_by_subject ON sessions (subject)",
            // Not UNIQUE: handles are unique in memory, and a unique index could make a batch
            // that replaces one session's handle fail on an unrelated row's stale value.
            "CREATE INDEX sessions_by_handle ON sessions (handle)",
        ]),
        // Single sign-on: a session's private part (the identity provider's tokens, JSON; empty
        // for other sessions) and its links to provider sessions (newline-separated). Existing
        // rows keep working with both empty.
        Migration(version: 2, statements: [
            "ALTER TABLE sessions ADD COLUMN secrets TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE sessions ADD COLUMN links TEXT NOT NULL DEFAULT ''",
        ]),
        // Session governance: where each session came from, the client address and the
        // User-Agent of the request that created it. Existing rows keep working with both
        // empty (shown as unknown).
        Migration(version: 3, statements: [
            "ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT ''",
        ]),
        // API keys, apart from the sessions (a revoke of everyone's sessions leaves them). The
        // key is SHA-256 of the key's text, never the text. `name` and `last_used_at` are NULL
        // when unset. Existing files gain an empty table; their sessions are untouched.
        Migration(version: 4, statements: [
            """
            CREATE TABLE api_keys (
                key BLOB NOT NULL PRIMARY KEY CHECK (length(key) = 32),
                handle TEXT NOT NULL,
                subject TEXT NOT NULL,
                name TEXT,
                attributes TEXT NOT NULL,
                created_at REAL NOT NULL,
                last_used_at REAL,
                expires_at REAL NOT NULL
            ) WITHOUT ROWID
            """,
        ]),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The migrations that bring a file at `version` to ``latestVersion``, in order.
    static func migrations(from version: Int) -> [Migration] {
        migrations.filter { $0.version > version }
    }
}
