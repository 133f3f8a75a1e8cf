@testable import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Logging
import Synchronization
import Testing

/// A row whose attributes cannot be read (the file edited outside Cloakroom): no session, the
/// row deleted and logged by handle, other sessions untouched; never an error that would turn
/// every request with that cookie into a 503.
@Suite struct FileStoreDamagedRecordTests {
    /// Attributes no session can have, each as SQL text.
    static let damage = [
        "'{\"sub\":\"alice\",'",          // cut short
        "'not json'",
        "'[\"sub\",\"alice\"]'",          // not an object
        "'{\"email\":\"a@example.com\"}'",  // no sub
        "'{\"sub\":\"\"}'",               // empty sub
        "'{\"sub\":\"mallory\"}'",        // a sub that is not the row's subject
        "'{\"sub\":42}'",
    ]

    @Test(arguments: damage)
    func aDamagedRowIsNoSessionAndIsDeleted(_ attributes: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let (alice, bob, aliceHandle) = try await withStore(path, clock: clock) { store async throws in
                let fixture = StoreFixture(store: store, clock: clock)
                let (alice, aliceSession) = try await fixture.create("alice", ["email": "a@example.com"])
                let (bob, _) = try await fixture.create("bob")
                // Straight into the file, behind the store's back, as an editor would.
                try await store.core.database.execute(
                    "UPDATE sessions SET attributes = \(attributes) WHERE subject = 'alice'", doing: "damaging a row")
                return (alice, bob, aliceSession.handle)
            }

            let (logger, lines) = capturingLogger()
            let store = try await FileSessionStore.open(path: path, timeouts: testTimeouts, clock: clock, logger: logger)
            let audit = AuditRecorder()
            store.observeAudit { audit.append($0) }
            try await withClosing(store) { store async throws in
                #expect(try await store.sessions(subject: nil).map(\.subject) == ["bob"], "listing leaves it out")
                #expect(try store.lookupNow(key: alice, cache: ParsedAttributesCache()) == nil)
                #expect(try await store.lookup(key: alice) == nil)
                #expect(try await store.update(key: alice, patch: ["a": 1]) == nil)
                #expect(try await store.lookup(key: bob)?.subject == "bob")
                #expect(try await store.liveKeys(among: [alice, bob]) == [bob])
            }
            #expect(audit.endings.map(\.handle) == [aliceHandle], "one audit line for the deleted record")
            #expect(audit.endings.map(\.reason) == [.damaged])
            let logged = lines.all.filter { $0.contains("damaged") }
            #expect(logged.count == 1, "\(lines.all)")
            #expect(logged.first?.contains("damaged session record deleted") == true)
            #expect(logged.first?.contains("handle=\(aliceHandle)") == true)
            #expect(lines.all.allSatisfy { !$0.contains(alice.hexForTests) }, "never the key (nor the ID)")

            try await withStore(path, clock: clock) { store async throws in
                #expect(try await store.sessions(subject: nil).map(\.subject) == ["bob"])
                #expect(store.core.state.withLock { $0.table.peek(key: alice) } == nil, "the row is gone from the file")
            }
        }
    }

    /// ``DamagedRecordConformance``, the check the Redis store runs too, for each damage.
    @Test(arguments: damage)
    func conformance(_ attributes: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            try await DamagedRecordConformance { clock in
                let (alice, bob, handle) = try await withStore(path, clock: clock) { store async throws in
                    let fixture = StoreFixture(store: store, clock: clock)
                    let (alice, session) = try await fixture.create("alice", ["email": "a@example.com"])
                    let (bob, _) = try await fixture.create("bob")
                    try await store.core.database.execute(
                        "UPDATE sessions SET attributes = \(attributes) WHERE subject = 'alice'", doing: "damaging a row")
                    return (alice, bob, session.handle)
                }
                let (logger, lines) = capturingLogger()
                let store = try await FileSessionStore.open(path: path, timeouts: testTimeouts, clock: clock, logger: logger)
                return .init(store: store, damaged: alice, handle: handle, intact: bob, logged: { lines.all })
            }.run()
        }
    }

    /// A lookup of a damaged record is not a store failure: the operation is not counted as one,
    /// and the store stays usable for the same user.
    @Test func theUserCanLogInAgain() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let alice = try await withStore(path, clock: clock) { store async throws in
                let (alice, _) = try await StoreFixture(store: store, clock: clock).create("alice")
                try await store.core.database.execute("UPDATE sessions SET attributes = 'x'", doing: "damaging a row")
                return alice
            }
            try await withStore(path, clock: clock) { store async throws in
                #expect(try await store.lookup(key: alice) == nil)
                #expect(try await store.revoke(key: alice) == false, "already deleted")
                let (again, _) = try await StoreFixture(store: store, clock: clock).create("alice")
                #expect(try await store.lookup(key: again)?.subject == "alice")
            }
        }
    }
}

extension SessionKey {
    /// Lower-case hex of the key's bytes, to check it never appears in a log.
    var hexForTests: String {
        withUnsafeBytes(of: self) { $0.map { String(format: "%02x", $0) }.joined() }
    }
}
