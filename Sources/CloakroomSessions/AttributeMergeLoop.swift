import Foundation

/// The `Session-Update` merge the memory and file stores share: read the attributes, merge the
/// patch outside the table's lock, write only if nobody changed them in between, otherwise
/// read and merge again. The stores differ only in how they read and write (the memory store
/// under its lock, the file store through its core, waiting for the commit), so each passes
/// those two steps and this type owns the loop, its bound and what each outcome means.
///
/// The loop is bounded like a compare-and-swap should be: after ``maxAttempts`` writes that
/// each found the attributes changed, the update fails as the store being unavailable (503)
/// instead of spinning while other writers keep winning.
package struct AttributeMergeLoop {
    /// Writes that may find the attributes changed before the update gives up.
    package static let maxAttempts = 64

    package let patch: JSONValue
    package let members: JSONObject
    package let timeouts: SessionTimeouts

    package init(patch: JSONValue, members: JSONObject, timeouts: SessionTimeouts) {
        self.patch = patch
        self.members = members
        self.timeouts = timeouts
    }

    /// The merged session (nil: no live session, or a damaged record `discard` was given), or
    /// the patch's own failure as a value, so the store's timer does not count it as an error.
    /// - Parameters:
    ///   - read: the session's current row, nil when there is no live session.
    ///   - write: replaces the attributes only if they are still `expected`.
    ///   - discard: deletes a row whose stored attributes cannot be read.
    package func run(
        read: () throws -> MemorySessionTable.Snapshot?,
        write: (_ expected: MemorySessionTable.Snapshot, _ encoded: [UInt8]) async throws -> MemorySessionTable.ReplaceOutcome,
        discard: (MemorySessionTable.Snapshot, DamagedSessionRecord) -> Void
    ) async throws -> Result<Session?, SessionStoreError> {
        for _ in 0..<Self.maxAttempts {
            switch try step(try read(), discard: discard) {
            case .done(let result):
                return result
            case .write(let current, let attributes, let encoded):
                if let session = outcome(try await write(current, encoded), attributes: attributes) { return .success(session) }
            }
        }
        throw Self.contended
    }

    /// ``run(read:write:discard:)`` for a store that writes without suspending.
    package func runNow(
        read: () throws -> MemorySessionTable.Snapshot?,
        write: (_ expected: MemorySessionTable.Snapshot, _ encoded: [UInt8]) throws -> MemorySessionTable.ReplaceOutcome,
        discard: (MemorySessionTable.Snapshot, DamagedSessionRecord) -> Void
    ) throws -> Result<Session?, SessionStoreError> {
        for _ in 0..<Self.maxAttempts {
            switch try step(try read(), discard: discard) {
            case .done(let result):
                return result
            case .write(let current, let attributes, let encoded):
                if let session = outcome(try write(current, encoded), attributes: attributes) { return .success(session) }
            }
        }
        throw Self.contended
    }

    /// What giving up throws.
    package static let contended = SessionStoreError.unavailable(
        "the session's attributes changed under \(maxAttempts) updates in a row")

    private enum Step {
        case done(Result<Session?, SessionStoreError>)
        case write(MemorySessionTable.Snapshot, JSONObject, [UInt8])
    }

    /// One read's merge: the write to try, or the end of the update.
    private func step(
        _ current: MemorySessionTable.Snapshot?, discard: (MemorySessionTable.Snapshot, DamagedSessionRecord) -> Void
    ) throws -> Step {
        guard let current else { return .done(.success(nil)) }
        do {
            let merged = try MemorySessionTable.merge(patch, members: members, into: current)
            return .write(current, merged.attributes, merged.encoded)
        } catch let error as SessionStoreError {
            guard case .invalidPatch = error else { throw error }
            return .done(.failure(error))
        } catch let damage as DamagedSessionRecord {
            discard(current, damage)
            return .done(.success(nil))
        }
    }

    /// The session a write made, `.some(nil)` when the session is gone, nil to try again.
    private func outcome(_ outcome: MemorySessionTable.ReplaceOutcome, attributes: JSONObject) -> Session?? {
        switch outcome {
        case .replaced(let updated):
            return .some(Session(
                handle: updated.handleText, attributes: attributes,
                createdAt: updated.createdAt, lastSeenAt: updated.lastSeenAt,
                expiresAt: timeouts.expiry(createdAt: updated.createdAt, lastSeenAt: updated.lastSeenAt)))
        case .gone:
            return .some(nil)
        case .changed:
            return nil
        }
    }
}
