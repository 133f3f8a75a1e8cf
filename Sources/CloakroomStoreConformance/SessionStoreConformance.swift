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
///             try await FileSessionStore.open(path: temporaryPath(), timeouts: timeouts, clock: clock, logger: logger)
///         }.run(check)
///     }
///
/// Each check makes a fresh store through the factory, with a fresh ``ManualWallClock`` and
/// ``timeouts`` (idle 30 min, absolute 12 h, touch 1 min), and moves time only through that
/// clock, so a store must read "now" from the clock it was given and nothing else. A durable
/// store's factory must return an empty store each time. Every check ends by closing the store
/// (also when it fails), so stores holding files or connections release them. ``runAll()``
/// runs every check in turn, for callers that prefer one test.
///
/// A library target rather than test files so that every store's test target (memory, file,
/// Redis) runs the very same checks.
public struct SessionStoreConformance: Sendable {
    public typealias Factory = @Sendable (ManualWallClock, SessionTimeouts) async throws -> any SessionStore

    /// One behaviour, run as its own test case.
    public enum Check: String, CaseIterable, Sendable {
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
        case attributesRoundTrip
        case liveCountExcludesExpired
        case liveKeysWithoutTouching
    }

    /// Idle 30 min, absolute 12 h, touch interval 1 min: what every check assumes.
    public static let timeouts = SessionTimeouts(idle: .minutes(30), absolute: .hours(12), touchInterval: .minutes(1))

    public let makeStore: Factory
    /// The production lookup to check instead of the protocol's (``ProductionLookupStore``),
    /// made fresh for each check; nil: `lookup(key:)` itself.
    public let lookupPath: (@Sendable () -> ProductionLookupStore.Lookup)?

    public init(lookupPath: (@Sendable () -> ProductionLookupStore.Lookup)? = nil, makeStore: @escaping Factory) {
        self.makeStore = makeStore
        self.lookupPath = lookupPath
    }

    public func runAll() async throws {
        for check in Check.allCases {
            try await run(check)
        }
    }

    public func run(_ check: Check) async throws {
        let clock = ManualWallClock()
        let made = try await makeStore(clock, Self.timeouts)
        let store: any SessionStore = lookupPath.map { ProductionLookupStore(base: made, lookup: $0()) } ?? made
        try await withClosing(store) { store in try await StoreFixture(store: store, clock: clock).perform(check) }
    }
}

extension StoreFixture {
    func perform(_ check: SessionStoreConformance.Check) async throws {
        switch check {
        case .createAndLookup: try await createAndLookup()
        case .missingSubjectRejected: try await missingSubjectRejected()
        case .touchInterval: try await touchInterval()
        case .idleExpiry: try await idleExpiry()
        case .absoluteExpiryDespiteActivity: try await absoluteExpiryDespiteActivity()
        case .revokeByKey: try await revokeByKey()
        case .revokeByHandle: try await revokeByHandle()
        case .revokeBySubject: try await revokeBySubject()
        case .revokeAll: try await revokeAll()
        case .revokeCountsOnlyLiveSessions: try await revokeCountsOnlyLiveSessions()
        case .listOldestFirstWithoutExpired: try await listOldestFirstWithoutExpired()
        case .sweepCountsExpired: try await sweepCountsExpired()
        case .mergePatchVisibleOnNextLookup: try await mergePatchVisibleOnNextLookup()
        case .subjectImmutable: try await subjectImmutable()
        case .nonObjectPatchRejected: try await nonObjectPatchRejected()
        case .updateOfMissingOrExpiredReturnsNil: try await updateOfMissingOrExpiredReturnsNil()
        case .concurrentUseStaysConsistent: try await concurrentUseStaysConsistent()
        case .attributesRoundTrip: try await attributesRoundTrip()
        case .liveCountExcludesExpired: try await liveCountExcludesExpired()
        case .liveKeysWithoutTouching: try await liveKeysWithoutTouching()
        }
    }
}

