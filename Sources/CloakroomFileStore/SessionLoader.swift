import CloakroomSessions
import Dispatch
import struct Foundation.Date
import SQLiteNIO
import Synchronization

/// Builds the in-memory table from the rows of one `SELECT`, on two threads: the query's
/// thread reads and decodes rows into chunks, a second thread indexes them into the table.
/// Reading (SQLite, row decoding) and indexing (three hash tables, cache misses) take about
/// the same time, so a million sessions load in little more than half the time of one thread.
///
/// Both sides run on the store's thread pool and block on semaphores there: never on an event
/// loop or the cooperative pool. The hand-off is bounded (a few chunks), so loading never holds
/// more than a few thousand decoded rows beyond the table itself.
///
/// `@unchecked Sendable`: the producer state (`chunk`, `expired`, `readDamage`) is touched only
/// by the query's row callback, which SQLiteNIO calls on one thread, in order, before the query
/// returns; the consumer state (`table`, `indexDamage`) only by ``consume()``; the queue is
/// behind a mutex and the semaphores order the hand-offs.
final class SessionLoader: @unchecked Sendable {
    /// One decoded row, ready to index.
    struct Row: Sendable {
        var key: SessionKey
        var handle: MemorySessionTable.StoredHandle
        var subject: String
        var attributes: [UInt8]
        var createdAt: Date
        var lastSeenAt: Date
        /// Single sign-on: the private part and the provider links (empty for most sessions).
        var secrets: [UInt8] = []
        var links: [String] = []
        /// Where the session came from (schema version 3; empty for older rows).
        var origin: SessionOrigin = .unknown
    }

    static let chunkSize = 8_192
    /// Expired rows described for the audit log, at most: they are held until an audit log is
    /// attached, and a file left unused for long may hold millions (the rest are only counted).
    static let maxExpiredEvents = 100_000

    // Producer side.
    private var chunk: [Row] = []
    private(set) var expired = Endings()
    private(set) var readDamage: String?
    private let idleCutoff: Double
    private let absoluteCutoff: Double
    private let timeouts: SessionTimeouts

    // Consumer side.
    private var table: MemorySessionTable
    private var indexDamage: String?

    // The hand-off.
    private let queue = Mutex<(chunks: [[Row]], finished: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)
    private let room = DispatchSemaphore(value: 4)

    /// Rows with `last_seen_at <= idleCutoff` or `created_at <= absoluteCutoff` are expired:
    /// counted, not loaded.
    init(timeouts: SessionTimeouts, capacity: Int, idleCutoff: Double, absoluteCutoff: Double) {
        table = MemorySessionTable(maxSessions: FileSessionStore.unbounded, timeouts: timeouts)
        table.reserveCapacity(capacity)
        chunk.reserveCapacity(Self.chunkSize)
        self.timeouts = timeouts
        self.idleCutoff = idleCutoff
        self.absoluteCutoff = absoluteCutoff
    }

    // MARK: Producer (the query's row callback)

    func add(_ row: SQLiteRow) {
        guard readDamage == nil else { return }
        guard let createdAt = row.column("created_at")?.double, let lastSeenAt = row.column("last_seen_at")?.double else {
            readDamage = "a session row has no timestamps"
            return
        }
        if lastSeenAt <= idleCutoff || createdAt <= absoluteCutoff {
            // Ended by whichever deadline came first.
            let idleDeadline = lastSeenAt + timeouts.idle.timeInterval
            let absoluteDeadline = createdAt + timeouts.absolute.timeInterval
            let reason: SessionEndReason = idleDeadline < absoluteDeadline ? .idle : .absolute
            expired.record(reason)
            if expired.events.count < Self.maxExpiredEvents, case .text(let handle)? = row.column("handle"),
                case .text(let subject)? = row.column("subject")
            {
                expired.events.append(SessionAuditEvent(kind: .ended(reason), handle: handle, subject: subject, client: Self.origin(of: row).client))
            }
            return
        }
        guard let keyBytes = row.column("key")?.blob, let key = SessionKey(rawBytes: Array(keyBytes.readableBytesView)),
              case .text(let handleText)? = row.column("handle"),
              let handle = MemorySessionTable.StoredHandle(text: handleText[...]),
              case .text(let subject)? = row.column("subject"), !subject.isEmpty,
              case .text(let attributes)? = row.column("attributes")
        else {
            readDamage = "a session row has a malformed key, handle, subject or attributes"
            return
        }
        var loaded = Row(
            key: key, handle: handle, subject: subject, attributes: Array(attributes.utf8),
            createdAt: Date(timeIntervalSince1970: createdAt), lastSeenAt: Date(timeIntervalSince1970: lastSeenAt)
        )
        if case .text(let secrets)? = row.column("secrets"), !secrets.isEmpty { loaded.secrets = Array(secrets.utf8) }
        if case .text(let links)? = row.column("links"), !links.isEmpty { loaded.links = links.split(separator: "\n").map(String.init) }
        loaded.origin = Self.origin(of: row)
        chunk.append(loaded)
        if chunk.count == Self.chunkSize { handOff() }
    }

    /// A row's origin; rows written before schema version 3 have empty columns.
    private static func origin(of row: SQLiteRow) -> SessionOrigin {
        guard case .text(let client)? = row.column("client") else { return .unknown }
        guard case .text(let userAgent)? = row.column("user_agent") else { return SessionOrigin(client: client, userAgent: nil) }
        return SessionOrigin(client: client, userAgent: userAgent)
    }

    /// Hands over the last partial chunk and tells the consumer there is no more. Call it once
    /// the query has returned or failed (from a thread-pool thread: it may wait for room).
    func finishProducing() {
        if !chunk.isEmpty { handOff() }
        queue.withLock { $0.finished = true }
        ready.signal()
    }

    private func handOff() {
        room.wait()
        let full = chunk
        chunk = []
        chunk.reserveCapacity(Self.chunkSize)
        queue.withLock { $0.chunks.append(full) }
        ready.signal()
    }

    // MARK: Consumer (a second thread-pool thread)

    /// Indexes chunks until the producer finishes; returns the table, or `nil` with
    /// ``damage`` set when a row could not be indexed.
    func consume() -> MemorySessionTable? {
        while true {
            ready.wait()
            let next: [Row]? = queue.withLock { queue in
                queue.chunks.isEmpty ? nil : queue.chunks.removeFirst()
            }
            guard let rows = next else { break }  // finished, and nothing left
            room.signal()
            guard indexDamage == nil else { continue }  // keep draining so the producer never waits forever
            for row in rows {
                let restored = table.restore(
                    key: row.key, handle: row.handle, subject: row.subject, attributes: row.attributes,
                    createdAt: row.createdAt, lastSeenAt: row.lastSeenAt, origin: row.origin
                )
                if !restored {
                    indexDamage = "two session rows have the same key"
                    break
                }
                if !row.secrets.isEmpty || !row.links.isEmpty { table.attach(secrets: row.secrets, links: row.links, key: row.key) }
            }
        }
        return indexDamage == nil ? table : nil
    }

    /// What made the file unloadable, if anything. Read after both sides are done.
    var damage: String? { readDamage ?? indexDamage }
}
