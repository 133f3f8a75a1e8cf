import CloakroomSessions
import Testing

/// A damaged record (``DamagedSessionRecord``), as one check every store that can hold one runs
/// beside ``SessionStoreConformance``: the file store and Redis, each with every kind of damage
/// it can have (a row edited by hand; a field rewritten, removed or of another type in Redis).
/// The memory store holds only its own serialization, so it never has one.
///
/// Whatever the damage, the same damaged path (SPEC, README "Damaged records"): listings leave
/// the record out; the lookup that finds it answers no session, deletes it, logs
/// `damaged session record deleted` once with its handle (never its key), and reports one
/// `damaged` ending to the audit log (counted by the same report); later lookups find nothing
/// and report nothing more; other sessions are untouched and the user can log in again.
public struct DamagedRecordConformance: Sendable {
    /// A store made by a factory, holding one damaged session and one intact one.
    public struct Prepared: Sendable {
        public var store: any SessionAuditSource
        /// alice's session, damaged behind the store's back.
        public var damaged: SessionKey
        /// The handle the damaged session was created with; `nil` when the damage leaves none
        /// to read (the ending is then reported with an empty handle, and logged as `?`).
        public var handle: String?
        /// bob's session, intact.
        public var intact: SessionKey
        /// The store's log messages so far, each rendered `message key=value ...`.
        public var logged: @Sendable () -> [String]

        public init(
            store: any SessionAuditSource, damaged: SessionKey, handle: String?, intact: SessionKey,
            logged: @escaping @Sendable () -> [String]
        ) {
            self.store = store
            self.damaged = damaged
            self.handle = handle
            self.intact = intact
            self.logged = logged
        }
    }

    /// Makes the store on `clock` and damages alice's session in it.
    public typealias Factory = @Sendable (ManualWallClock) async throws -> Prepared

    public let prepare: Factory

    public init(prepare: @escaping Factory) {
        self.prepare = prepare
    }

    /// Runs the check; the store is closed afterwards, also when it fails.
    public func run(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let clock = ManualWallClock()
        let prepared = try await prepare(clock)
        let audit = AuditRecorder()
        prepared.store.observeAudit { audit.append($0) }
        try await withClosing(prepared.store) { store in
            try await check(prepared, store: store, clock: clock, audit: audit, sourceLocation: sourceLocation)
        }
    }

    private func check(
        _ prepared: Prepared, store: any SessionAuditSource, clock: ManualWallClock, audit: AuditRecorder,
        sourceLocation: SourceLocation
    ) async throws {
        let (damaged, intact) = (prepared.damaged, prepared.intact)
        let listed = try await store.sessions(subject: nil).map(\.subject)
        #expect(listed == ["bob"], "listings leave it out", sourceLocation: sourceLocation)
        #expect(try await store.sessions(subject: "alice").isEmpty, sourceLocation: sourceLocation)
        #expect(try await store.lookup(key: damaged) == nil, "no session", sourceLocation: sourceLocation)
        #expect(try await store.lookup(key: damaged) == nil, "deleted: still none", sourceLocation: sourceLocation)
        #expect(try await store.update(key: damaged, patch: ["a": 1]) == nil, sourceLocation: sourceLocation)
        #expect(try await store.revoke(key: damaged) == false, "nothing left to revoke", sourceLocation: sourceLocation)
        #expect(try await store.liveKeys(among: [damaged, intact]) == [intact], sourceLocation: sourceLocation)
        #expect(try await store.lookup(key: intact)?.subject == "bob", "others untouched", sourceLocation: sourceLocation)

        let endings = audit.endings
        #expect(endings.map(\.handle) == [prepared.handle ?? ""], "one audit line", sourceLocation: sourceLocation)
        #expect(endings.map(\.reason) == [.damaged], sourceLocation: sourceLocation)
        let lines = prepared.logged().filter { $0.contains("damaged session record") }
        #expect(lines.count == 1, "one log line: \(lines)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("damaged session record deleted") == true, "\(lines)", sourceLocation: sourceLocation)
        #expect(lines.first?.contains("handle=\(prepared.handle ?? "?")") == true, "\(lines)", sourceLocation: sourceLocation)
        let hex = damaged.hexForLogs
        #expect(prepared.logged().allSatisfy { !$0.contains(hex) }, "never the key (nor the ID)", sourceLocation: sourceLocation)

        let (again, _) = try await StoreFixture(store: store, clock: clock).create("alice")
        #expect(try await store.lookup(key: again)?.subject == "alice", "alice logs in again", sourceLocation: sourceLocation)
    }
}

extension SessionKey {
    /// Lower-case hex of the key's bytes (as Redis names it), to check it never appears in a log.
    public var hexForLogs: String {
        rawBytes.map { byte in byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
    }
}
