import CloakroomSessions
import NIOCore

/// A session record in Redis that a read could not use (``DamagedSessionRecord``), with what
/// the store needs to delete exactly that record: its attributes as read (the delete is a
/// compare-and-delete on them) and its handle for the log, when it has one.
struct DamagedRedisRecord: Error {
    var damage: DamagedSessionRecord
    var handle: String?
    var attributes: RESPValue
}

// Damaged records: deleted by the read that finds them, which then answers "no session".
extension RedisSessionStore {
    /// The error for an error reply to a session read: a key of the wrong type under the
    /// session's name (`WRONGTYPE`) is a damaged record, anything else a server error.
    func readError(_ message: String) -> any Error {
        guard message.hasPrefix("WRONGTYPE") else { return RedisClientError.serverError(message) }
        return DamagedRedisRecord(damage: DamagedSessionRecord("the session key is not a hash"), handle: nil, attributes: .null)
    }

    /// Deletes a damaged record (the `discard` script), logs it by handle (never the ID or the
    /// key) and counts and audits it as ended (`damaged`). Never throws: the record is unusable whether or not the
    /// delete reaches Redis, so the caller answers "no session" either way; a record left
    /// behind is deleted by the next lookup that finds it, or expires with its TTL.
    func discardDamaged(key: SessionKey, _ record: DamagedRedisRecord) async {
        var attributes = ByteBuffer()
        if case .bulkString(let bytes) = record.attributes { attributes = bytes }
        do {
            let reply = try await run(SessionScripts.discard, now: Milliseconds.of(clock.now()), extraCount: 2) { command in
                command.append(hexOf: key)
                command.append(attributes)
            }
            guard case .integer(let deleted) = reply else { throw unexpected(reply, from: "discard") }
            logDamagedRecordDeleted(handle: record.handle, why: record.damage.why, deleted: deleted == 1)
            if deleted == 1 {
                SessionMetrics.sessionsEnded(1, reason: .damaged)
                // Its subject and client are in the record that could not be read.
                if audit.isActive {
                    audit.report([SessionAuditEvent(kind: .ended(.damaged), handle: record.handle ?? "", subject: "", client: "")])
                }
            }
        } catch {
            logger.error("damaged session record could not be deleted", metadata: [
                "handle": "\(record.handle ?? "?")", "why": "\(record.damage.why)", "error": "\(error)",
            ])
        }
    }

    /// The log line of a damaged record deleted, by handle (never the ID or the key). A script
    /// that finds one (a field missing or malformed, a key of another type) deletes it itself.
    func logDamagedRecordDeleted(
        handle: String?, why: String = "a field is missing or malformed, or the key is not a hash", deleted: Bool = true
    ) {
        logger.error("damaged session record deleted", metadata: [
            "handle": "\(handle.flatMap { $0.isEmpty ? nil : $0 } ?? "?")", "why": "\(why)", "deleted": "\(deleted)",
        ])
    }
}

extension RESPValue {
    /// Stored Unix milliseconds: ASCII digits only (at most 16), as the store writes them and
    /// as the scripts' `millis` accepts them, so the plain read and the scripts agree on what
    /// is damaged.
    var storedMilliseconds: Int64? {
        guard case .bulkString(let bytes) = self, (1...16).contains(bytes.readableBytes) else { return nil }
        var value: Int64 = 0
        for byte in bytes.readableBytesView {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
