import CloakroomSessions
import Foundation
import Testing

/// The behaviour every ``SessionStore`` must have, as one suite that each store's tests run.
///
/// A store's test file runs every check, one test case each, against its own factory:
///
///     @Test(arguments: SessionStoreConformance.Check.allCases)
///     func conformance(_ check: SessionStoreConformance.Check) async throws {
///         try await SessionStoreConformance { clock, timeouts in
///             try await FileSessionStore(path: temporaryPath(), timeouts: timeouts, clock: clock)
///         }.run(check)
///     }
///
/// Each check makes a fresh store through the factory, with a fresh ``ManualWallClock`` and
/// ``timeouts`` (idle 30 min, absolute 12 h, touch 1 min), and moves time only through that
/// clock, so a store must read "now" from the clock it was given and nothing else. A durable
/// store's factory must return an empty store each time. ``runAll()`` runs every check in turn,
/// for callers that prefer one test.
struct SessionStoreConformance: Sendable {
    typealias Factory = @Sendable (ManualWallClock, SessionTimeouts) async throws -> any SessionStore

    enum Check: String, CaseIterable, Sendable {
        case createAndLookup
        case missingSubjectRejected
        case touchInterval
        case idleExpiry
        case absoluteExpiryDespiteActivity
        case revokeByKey
        case revokeByHandle
        case revokeBySubject
        case revokeAll
        case revokeCountsOnlyLiveSessions
        case listOldestFirstWithoutExpired
        case sweepCountsExpired
        case mergePatchVisibleOnNextLookup
        case subjectImmutable
        case nonObjectPatchRejected
        case updateOfMissingOrExpiredReturnsNil
        case concurrentUseStaysConsistent
    }

    static let timeouts = SessionTimeouts(idle: .minutes(30), absolute: .hours(12), touchInterval: .minutes(1))

    let makeStore: Factory

    init(makeStore: @escaping Factory) {
        self.makeStore = makeStore
    }

    func runAll() async throws {
        for check in Check.allCases {
            try await run(check)
        }
    }

    func run(_ check: Check) async throws {
        let clock = ManualWallClock()
        let store = try await makeStore(clock, Self.timeouts)
        let fixture = Fixture(store: store, clock: clock)
        switch check {
        case .createAndLookup: try await fixture.createAndLookup()
        case .missingSubjectRejected: try await fixture.missingSubjectRejected()
        case .touchInterval: try await fixture.touchInterval()
        case .idleExpiry: try await fixture.idleExpiry()
        case .absoluteExpiryDespiteActivity: try await fixture.absoluteExpiryDespiteActivity()
        case .revokeByKey: try await fixture.revokeByKey()
        case .revokeByHandle: try await fixture.revokeByHandle()
        case .revokeBySubject: try await fixture.revokeBySubject()
        case .revokeAll: try await fixture.revokeAll()
        case .revokeCountsOnlyLiveSessions: try await fixture.revokeCountsOnlyLiveSessions()
        case .listOldestFirstWithoutExpired: try await fixture.listOldestFirstWithoutExpired()
        case .sweepCountsExpired: try await fixture.sweepCountsExpired()
        case .mergePatchVisibleOnNextLookup: try await fixture.mergePatchVisibleOnNextLookup()
        case .subjectImmutable: try await fixture.subjectImmutable()
        case .nonObjectPatchRejected: try await fixture.nonObjectPatchRejected()
        case .updateOfMissingOrExpiredReturnsNil: try await fixture.updateOfMissingOrExpiredReturnsNil()
        case .concurrentUseStaysConsistent: try await fixture.concurrentUseStaysConsistent()
        }
    }
}

/// One store and its clock, plus the helpers the checks share.
struct Fixture: Sendable {
    let store: any SessionStore
    let clock: ManualWallClock

    static func newKey() -> SessionKey { SessionID.random().key }

    /// Creates a session for `subject` under a fresh key.
    @discardableResult
    func create(_ subject: String, _ extra: JSONObject = [:]) async throws -> (key: SessionKey, session: Session) {
        let key = Self.newKey()
        var attributes = extra
        attributes["sub"] = .string(subject)
        return (key, try await store.create(key: key, attributes: attributes))
    }

    func isLive(_ key: SessionKey) async throws -> Bool {
        try await store.lookup(key: key) != nil
    }

    func handles(_ subject: String?) async throws -> [String] {
        try await store.sessions(subject: subject).map(\.handle)
    }

    /// Runs `body`, expecting ``SessionStoreError/invalidPatch(_:)``.
    func expectInvalidPatch(
        _ body: () async throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            try await body()
            Issue.record("expected SessionStoreError.invalidPatch, nothing was thrown", sourceLocation: sourceLocation)
        } catch SessionStoreError.invalidPatch {
            // expected
        } catch {
            Issue.record("expected SessionStoreError.invalidPatch, got \(error)", sourceLocation: sourceLocation)
        }
    }
}

extension Duration {
    static func minutes(_ n: Int64) -> Duration { .seconds(n * 60) }
    static func hours(_ n: Int64) -> Duration { .seconds(n * 3600) }
}
