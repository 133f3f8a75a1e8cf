@testable import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Synchronization
import Testing

/// Session governance in the memory store: the shared checks, plus what only this store does
/// (eviction by `max_sessions`, reported with the session it pushed out).
@Suite struct MemoryStoreGovernanceTests {
    @Test(arguments: GovernanceConformance.Check.allCases)
    func governance(_ check: GovernanceConformance.Check) async throws {
        try await GovernanceConformance { clock, timeouts in
            MemorySessionStore(maxSessions: 10_000, timeouts: timeouts, clock: clock)
        }.run(check)
    }

    @Test func evictionIsAuditedWithTheSessionItPushedOut() async throws {
        let store = MemorySessionStore(maxSessions: 2, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock())
        let audit = AuditRecorder()
        store.observeAudit { audit.append($0) }
        let origin = SessionOrigin(client: "192.0.2.1", userAgent: "curl/8.5.0")
        let first = try await store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: origin, maxPerUser: 0)
        _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "bob"])
        audit.reset()
        _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "carol"])
        let evicted = audit.all.filter { $0.event.kind == .ended(.evicted) }
        #expect(evicted.map(\.event.handle) == [first.handle])
        #expect(evicted.first?.event.client == "192.0.2.1")
        #expect(evicted.first?.event.subject == "alice")
        #expect(evicted.first?.event.isCausedByRequest == true, "the creation that pushed it out names its request")
    }

    /// A session the limit ends is announced like a revoke, so a tunnel behind it closes at once.
    @Test func limitEndingsAreAnnounced() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock())
        let heard = Mutex<[SessionEnding]>([])
        store.observeEndings { ending in heard.withLock { $0.append(ending) } }
        let first = SessionID.random().key
        _ = try await store.create(key: first, attributes: ["sub": "alice"], origin: .unknown, maxPerUser: 1)
        _ = try await store.create(key: SessionID.random().key, attributes: ["sub": "alice"], origin: .unknown, maxPerUser: 1)
        #expect(heard.withLock { $0 } == [.session(first)])
    }

    /// Without an audit observer the table builds no events (the cost stays off the hot path).
    @Test func noEventsWithoutAnObserver() async throws {
        let store = MemorySessionStore(maxSessions: 10, timeouts: SessionStoreConformance.timeouts, clock: ManualWallClock())
        let key = SessionID.random().key
        _ = try await store.create(key: key, attributes: ["sub": "alice"])
        _ = store.table.withLock { $0.remove(key: key, now: Date(timeIntervalSince1970: 1_800_000_000)) }
        #expect(store.table.withLock { $0.endings.events.isEmpty })
    }
}

/// Origins are cut to their bounds at a character boundary.
@Suite struct SessionOriginTests {
    @Test func userAgentIsCutAtACharacterBoundary() {
        #expect(SessionOrigin(client: "1.2.3.4", userAgent: nil).userAgent == "")
        let ascii = String(repeating: "x", count: 300)
        #expect(SessionOrigin(client: "", userAgent: ascii).userAgent.utf8.count == 256)
        let accented = String(repeating: "a", count: 255) + "é"  // 257 bytes: the é does not fit
        #expect(SessionOrigin(client: "", userAgent: accented).userAgent == String(repeating: "a", count: 255))
        let flag = String(repeating: "a", count: 250) + "🇫🇷"  // 8-byte character at the end
        #expect(SessionOrigin(client: "", userAgent: flag).userAgent == String(repeating: "a", count: 250))
        #expect(SessionOrigin(client: "", userAgent: "Mozilla/5.0").userAgent == "Mozilla/5.0")
    }

    @Test func aContextCarriesOriginAndLimitToTheStore() async throws {
        let context = SessionRequestContext(requestID: "r", origin: SessionOrigin(client: "::1", userAgent: "ua"), maxPerUser: 4)
        await context.run {
            #expect(SessionRequestContext.currentLimit == 4)
            #expect(SessionRequestContext.currentOrigin.client == "::1")
            #expect(SessionRequestContext.current?.ending(.admin).endReason == .admin)
        }
        #expect(SessionRequestContext.currentLimit == 0)
        #expect(SessionRequestContext.currentOrigin == .unknown)
    }
}
