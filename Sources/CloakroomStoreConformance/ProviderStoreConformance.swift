import CloakroomSessions
import Foundation
import Testing

/// The single sign-on part of a store (``ProviderSessionStore``), as one suite each store runs
/// beside ``SessionStoreConformance``: the private part, the provider-session index, and the
/// replay guard.
public struct ProviderStoreConformance: Sendable {
    public typealias Factory = @Sendable (ManualWallClock, SessionTimeouts) async throws -> any ProviderSessionStore

    public enum Check: String, CaseIterable, Sendable {
        case privatePartIsNeverAnAttribute
        case privatePartReplacedAndGoneWithTheSession
        case revokeByLinkEndsExactlyTheLinkedSessions
        case revokeByLinkAnnouncesEachEnding
        case firstUseOnlyOnceUntilItsDeadline
        case expiredLinkedSessionsAreNotCounted
        case refreshLeaseGrantedAgainOnceReleased
    }

    public let makeStore: Factory

    public init(makeStore: @escaping Factory) {
        self.makeStore = makeStore
    }

    public func run(_ check: Check) async throws {
        let clock = ManualWallClock()
        let store = try await makeStore(clock, SessionStoreConformance.timeouts)
        try await withClosing(store) { store in try await perform(check, store: store, clock: clock) }
    }

    static let tokens: JSONObject = ["id_token": "eyJ.id.token", "access_token": "at-1", "refresh_token": "rt-1", "expires_at": 1_900_000_000]

    private func perform(_ check: Check, store: any ProviderSessionStore, clock: ManualWallClock) async throws {
        let key = SessionID.random().key
        switch check {
        case .privatePartIsNeverAnAttribute:
            let created = try await store.create(key: key, attributes: ["sub": "alice", "email": "a@example.com"], secrets: Self.tokens, links: ["sid:s1"])
            #expect(created.attributes == ["sub": "alice", "email": "a@example.com"])
            #expect(try await store.lookup(key: key)?.attributes == ["sub": "alice", "email": "a@example.com"])
            #expect(try await store.sessions(subject: "alice").first?.attributes.keys.sorted() == ["email", "sub"])
            #expect(try await store.secrets(key: key) == Self.tokens)
            // A session made without a provider has an empty private part.
            let plain = SessionID.random().key
            _ = try await store.create(key: plain, attributes: ["sub": "bob"])
            #expect(try await store.secrets(key: plain) == [:])
            #expect(try await store.secrets(key: SessionID.random().key) == nil)

        case .privatePartReplacedAndGoneWithTheSession:
            _ = try await store.create(key: key, attributes: ["sub": "alice"], secrets: Self.tokens, links: [])
            var renewed = Self.tokens
            renewed["access_token"] = "at-2"
            #expect(try await store.replaceSecrets(key: key, with: renewed))
            #expect(try await store.secrets(key: key)?["access_token"] == "at-2")
            #expect(try await store.update(key: key, patch: ["role": "x"]) != nil)
            #expect(try await store.secrets(key: key)?["access_token"] == "at-2", "an attribute update leaves it")
            #expect(try await store.revoke(key: key))
            #expect(try await store.secrets(key: key) == nil)
            #expect(try await store.replaceSecrets(key: key, with: renewed) == false)

        case .revokeByLinkEndsExactlyTheLinkedSessions:
            let laptop = SessionID.random().key, phone = SessionID.random().key, other = SessionID.random().key
            _ = try await store.create(key: laptop, attributes: ["sub": "alice"], secrets: Self.tokens, links: ["sid:one", "sub:alice"])
            _ = try await store.create(key: phone, attributes: ["sub": "alice"], secrets: Self.tokens, links: ["sid:two", "sub:alice"])
            _ = try await store.create(key: other, attributes: ["sub": "carol"], secrets: Self.tokens, links: ["sid:three", "sub:carol"])
            #expect(try await store.revokeAll(link: "sid:one") == 1)
            #expect(try await store.lookup(key: laptop) == nil)
            #expect(try await store.lookup(key: phone) != nil)
            #expect(try await store.revokeAll(link: "sid:one") == 0, "nothing left to end")
            #expect(try await store.revokeAll(link: "sub:alice") == 1)
            #expect(try await store.lookup(key: phone) == nil)
            #expect(try await store.lookup(key: other) != nil)
            #expect(try await store.revokeAll(link: "sid:unknown") == 0)

        case .revokeByLinkAnnouncesEachEnding:
            guard let source = store as? any SessionEndingSource else { return }
            let heard = Heard()
            source.observeEndings { heard.add($0) }
            await source.endingsObserved()
            _ = try await store.create(key: key, attributes: ["sub": "alice"], secrets: Self.tokens, links: ["sid:one"])
            #expect(try await store.revokeAll(link: "sid:one") == 1)
            for _ in 0..<50 where !heard.all.contains(.session(key)) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(heard.all.contains(.session(key)), "tunnels on this session are told: \(heard.all)")

        case .firstUseOnlyOnceUntilItsDeadline:
            let until = clock.now().addingTimeInterval(300)
            #expect(try await store.firstUse(of: "jti-1", until: until))
            #expect(try await store.firstUse(of: "jti-1", until: until) == false)
            #expect(try await store.firstUse(of: "jti-2", until: until))

        case .expiredLinkedSessionsAreNotCounted:
            _ = try await store.create(key: key, attributes: ["sub": "alice"], secrets: Self.tokens, links: ["sid:one"])
            clock.advance(by: .minutes(31))
            #expect(try await store.revokeAll(link: "sid:one") == 0)
            #expect(try await store.secrets(key: key) == nil)

        case .refreshLeaseGrantedAgainOnceReleased:
            // Whether a second holder is refused depends on the store (shared ones refuse it;
            // see the Redis store's tests): here only what every store does.
            let first = try #require(try await store.leaseRefresh(key: key, for: .seconds(10)))
            #expect(first.key == key && first.holder.count == 32)
            let other = try #require(try await store.leaseRefresh(key: SessionID.random().key, for: .seconds(10)), "another session's lease is its own")
            try await store.releaseRefresh(first)
            let again = try #require(try await store.leaseRefresh(key: key, for: .seconds(10)))
            #expect(again.holder != first.holder, "each lease has a holder of its own")
            try await store.releaseRefresh(again)
            try await store.releaseRefresh(other)
        }
    }
}

/// Endings heard by an observer, from any thread.
final class Heard: @unchecked Sendable {
    private let lock = NSLock()
    private var endings: [SessionEnding] = []
    func add(_ ending: SessionEnding) { lock.lock(); endings.append(ending); lock.unlock() }
    var all: [SessionEnding] { lock.lock(); defer { lock.unlock() }; return endings }
}
