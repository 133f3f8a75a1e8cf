import CloakroomSessions
import Foundation
import Testing

/// One store and its clock, plus the helpers the checks share (and store-specific tests reuse).
public struct StoreFixture: Sendable {
    public let store: any SessionStore
    public let clock: ManualWallClock

    public init(store: any SessionStore, clock: ManualWallClock) {
        self.store = store
        self.clock = clock
    }

    public static func newKey() -> SessionKey { SessionID.random().key }

    /// Creates a session for `subject` under a fresh key.
    @discardableResult
    public func create(_ subject: String, _ extra: JSONObject = [:]) async throws -> (key: SessionKey, session: Session) {
        let key = Self.newKey()
        var attributes = extra
        attributes["sub"] = .string(subject)
        return (key, try await store.create(key: key, attributes: attributes))
    }

    public func isLive(_ key: SessionKey) async throws -> Bool {
        try await store.lookup(key: key) != nil
    }

    public func handles(_ subject: String?) async throws -> [String] {
        try await store.sessions(subject: subject).map(\.handle)
    }

    /// Runs `body`, expecting ``SessionStoreError/invalidPatch(_:)``.
    public func expectInvalidPatch(
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
    /// `n` minutes, for readable clock moves in store tests.
    public static func minutes(_ n: Int64) -> Duration { .seconds(n * 60) }
    /// `n` hours.
    public static func hours(_ n: Int64) -> Duration { .seconds(n * 3600) }
}

/// Runs `body` with `store`, closing the store afterwards, also when `body` throws (a close
/// error then gives way to `body`'s).
public func withClosing<Store: SessionStore, T>(_ store: Store, _ body: (Store) async throws -> T) async throws -> T {
    do {
        let result = try await body(store)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}
