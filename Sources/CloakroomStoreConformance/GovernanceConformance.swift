import CloakroomSessions
import Foundation
import Synchronization
import Testing

/// Session governance, as one suite every store runs beside ``SessionStoreConformance``: the
/// origin recorded at creation, the per-user limit (`session.max_per_user`), and the audit
/// events of every session created and ended.
public struct GovernanceConformance: Sendable {
    public typealias Factory = @Sendable (ManualWallClock, SessionTimeouts) async throws -> any SessionAuditSource

    public enum Check: String, CaseIterable, Sendable {
        case originIsRecordedAndListed
        case originsAreBounded
        case limitEndsTheLeastRecentlyUsed
        case expiredSessionsDoNotCountTowardsTheLimit
        case noLimitOutsideAContext
        case concurrentLoginsNeverExceedTheLimit
        case everyCreationAndEndingIsAudited
        case revokeAllIsAuditedPerSession
    }

    public let makeStore: Factory

    public init(makeStore: @escaping Factory) {
        self.makeStore = makeStore
    }

    public func run(_ check: Check) async throws {
        let clock = ManualWallClock()
        let store = try await makeStore(clock, SessionStoreConformance.timeouts)
        let audit = AuditRecorder()
        store.observeAudit { events in audit.append(events) }
        try await withClosing(store) { store in
            try await GovernanceFixture(store: store, clock: clock, audit: audit).perform(check)
        }
    }
}

/// The audit events a store reported, with the reason and request ID the audit log would give
/// them (read from the context in force when they were reported).
public final class AuditRecorder: Sendable {
    public struct Entry: Sendable, Equatable {
        public var event: SessionAuditEvent
        public var reason: SessionEndReason?
        public var requestID: String?
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public func append(_ events: [SessionAuditEvent]) {
        let context = SessionRequestContext.current
        let new = events.map { Entry(event: $0, reason: $0.reason(in: context), requestID: context?.requestID) }
        entries.withLock { $0 += new }
    }

    public var all: [Entry] { entries.withLock { $0 } }

    /// Forgets what was recorded so far.
    public func reset() { entries.withLock { $0 = [] } }

    /// The endings recorded, as `(handle, reason)`.
    public var endings: [(handle: String, reason: SessionEndReason?)] {
        all.filter { $0.event.kind != .created }.map { ($0.event.handle, $0.reason) }
    }
}

struct GovernanceFixture: Sendable {
    let store: any SessionAuditSource
    let clock: ManualWallClock
    let audit: AuditRecorder

    static let laptop = SessionOrigin(client: "192.0.2.10", userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    static let phone = SessionOrigin(client: "2001:db8::7", userAgent: "Mozilla/5.0 (iPhone) Safari/604.1")

    /// Creates a session for `subject` in a request context with `origin` and `limit`.
    @discardableResult
    func login(_ subject: String, from origin: SessionOrigin = laptop, limit: Int = 0, requestID: String = "req") async throws
        -> (key: SessionKey, session: Session)
    {
        let key = StoreFixture.newKey()
        let context = SessionRequestContext(requestID: requestID, origin: origin, endReason: .login, maxPerUser: limit)
        let session = try await context.run { try await store.create(key: key, attributes: ["sub": .string(subject)]) }
        return (key, session)
    }

    func live(_ subject: String) async throws -> Set<String> {
        Set(try await store.sessions(subject: subject).map(\.handle))
    }

    func perform(_ check: GovernanceConformance.Check) async throws {
        switch check {
        case .originIsRecordedAndListed: try await originIsRecordedAndListed()
        case .originsAreBounded: try await originsAreBounded()
        case .limitEndsTheLeastRecentlyUsed: try await limitEndsTheLeastRecentlyUsed()
        case .expiredSessionsDoNotCountTowardsTheLimit: try await expiredSessionsDoNotCountTowardsTheLimit()
        case .noLimitOutsideAContext: try await noLimitOutsideAContext()
        case .concurrentLoginsNeverExceedTheLimit: try await concurrentLoginsNeverExceedTheLimit()
        case .everyCreationAndEndingIsAudited: try await everyCreationAndEndingIsAudited()
        case .revokeAllIsAuditedPerSession: try await revokeAllIsAuditedPerSession()
        }
    }

    func originIsRecordedAndListed() async throws {
        let (_, laptop) = try await login("alice", from: Self.laptop)
        clock.advance(by: .seconds(1))
        let (_, phone) = try await login("alice", from: Self.phone)
        #expect(laptop.origin == Self.laptop)
        let listed = try await store.sessions(subject: "alice")
        #expect(listed.map(\.handle) == [laptop.handle, phone.handle])
        #expect(listed.map(\.origin) == [Self.laptop, Self.phone])
        #expect(try await store.sessions(subject: nil).map(\.origin) == [Self.laptop, Self.phone])
        // A session created outside any request has no origin.
        let plain = try await StoreFixture(store: store, clock: clock).create("bob")
        #expect(try await store.sessions(subject: "bob").first?.origin == .unknown)
        #expect(plain.session.origin == .unknown)
    }

    func originsAreBounded() async throws {
        let long = String(repeating: "é", count: 200)  // 400 bytes of two-byte characters
        let origin = SessionOrigin(client: "198.51.100.1", userAgent: long)
        #expect(origin.userAgent.utf8.count == 256)
        #expect(origin.userAgent == String(repeating: "é", count: 128))
        let emoji = String(repeating: "a", count: 254) + "👍🏽"  // the last character is 8 bytes
        #expect(SessionOrigin(client: "", userAgent: emoji).userAgent == String(repeating: "a", count: 254))
        let (_, session) = try await login("alice", from: origin)
        #expect(try await store.sessions(subject: "alice").first?.origin.userAgent == String(repeating: "é", count: 128))
        #expect(session.origin.userAgent.utf8.count <= SessionOrigin.maxUserAgentBytes)
    }

    /// Least recently used as the store records it: `last_seen_at`, which a lookup moves once
    /// per touch interval.
    func limitEndsTheLeastRecentlyUsed() async throws {
        let (first, a) = try await login("alice", limit: 2)
        clock.advance(by: .minutes(2))
        let (second, b) = try await login("alice", limit: 2)
        try await login("bob", limit: 2)
        clock.advance(by: .minutes(2))
        _ = try await store.lookup(key: first)  // a is now the more recently used
        clock.advance(by: .minutes(2))
        audit.reset()
        let (third, c) = try await login("alice", limit: 2, requestID: "third-login")
        #expect(try await live("alice") == [a.handle, c.handle])
        #expect(try await store.lookup(key: second) == nil, "the ended session's cookie finds nothing")
        #expect(try await store.lookup(key: first) != nil)
        #expect(try await store.lookup(key: third) != nil)
        #expect(try await live("bob").count == 1, "another user's sessions are not counted")
        let limited = audit.all.filter { $0.event.kind == .ended(.limit) }
        #expect(limited.map(\.event.handle) == [b.handle])
        #expect(limited.first?.requestID == "third-login", "the login that pushed it out is named")
        #expect(limited.first?.event.client == Self.laptop.client)
        #expect(audit.all.contains { $0.event.kind == .created && $0.event.handle == c.handle })

        // Equal last use: the earlier created goes first.
        clock.advance(by: .minutes(2))
        _ = try await store.lookup(key: first)
        _ = try await store.lookup(key: third)
        let (_, d) = try await login("alice", limit: 2)
        #expect(try await live("alice") == [c.handle, d.handle])
        // A lower limit ends as many as it takes.
        let (_, e) = try await login("alice", limit: 1)
        #expect(try await live("alice") == [e.handle])
    }

    func expiredSessionsDoNotCountTowardsTheLimit() async throws {
        let (_, stale) = try await login("alice", limit: 2)
        clock.advance(by: .minutes(20))
        let (_, recent) = try await login("alice", limit: 2)
        clock.advance(by: .minutes(15))  // stale's idle deadline has passed, recent's has not
        audit.reset()
        let (_, new) = try await login("alice", limit: 2)
        #expect(try await live("alice") == [recent.handle, new.handle])
        let endings = audit.endings
        #expect(endings.count == 1 && endings.first?.handle == stale.handle && endings.first?.reason == .idle, "\(endings)")
    }

    func noLimitOutsideAContext() async throws {
        let plain = StoreFixture(store: store, clock: clock)
        for _ in 0..<4 { try await plain.create("alice") }
        try await login("alice", limit: 0)
        #expect(try await live("alice").count == 5)
        try await login("alice", limit: 5)
        #expect(try await live("alice").count == 5)
    }

    /// Many logins of one user at once: whatever the interleaving, never more than the limit
    /// live, and every login but the last few ended by the limit.
    func concurrentLoginsNeverExceedTheLimit() async throws {
        let limit = 3, logins = 24
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<logins {
                group.addTask { try await self.login("carol", limit: limit, requestID: "login-\(index)") }
            }
            try await group.waitForAll()
        }
        #expect(try await live("carol").count == limit)
        #expect(audit.all.filter { $0.event.kind == .ended(.limit) }.count == logins - limit)
        #expect(audit.all.filter { $0.event.kind == .created }.count == logins)
    }

    func everyCreationAndEndingIsAudited() async throws {
        let (byKey, a) = try await login("alice", requestID: "r1")
        let (_, b) = try await login("alice", from: Self.phone, requestID: "r2")
        let (_, c) = try await login("bob", requestID: "r3")
        let (idle, d) = try await login("dave", requestID: "r4")
        let created = audit.all.filter { $0.event.kind == .created }
        #expect(created.map(\.event.handle) == [a.handle, b.handle, c.handle, d.handle])
        #expect(created.map(\.requestID) == ["r1", "r2", "r3", "r4"])
        #expect(created.map(\.event.client) == [Self.laptop.client, Self.phone.client, Self.laptop.client, Self.laptop.client])
        #expect(created.first?.event.subject == "alice")
        audit.reset()

        let logout = SessionRequestContext(requestID: "out", origin: Self.phone, endReason: .logout)
        #expect(try await logout.run { try await store.revoke(key: byKey) })
        let admin = SessionRequestContext(requestID: "adm", origin: .unknown, endReason: .admin)
        #expect(try await admin.run { try await store.revoke(handle: b.handle) })
        let backend = SessionRequestContext(requestID: "be", origin: .unknown, endReason: .backend)
        #expect(try await backend.run { try await store.revokeAll(subject: "bob") } == 1)
        let ended = audit.all
        #expect(ended.map(\.event.handle) == [a.handle, b.handle, c.handle])
        #expect(ended.map(\.reason) == [.logout, .admin, .backend])
        #expect(ended.map(\.requestID) == ["out", "adm", "be"])
        #expect(ended.map(\.event.client) == [Self.laptop.client, Self.phone.client, Self.laptop.client], "the session's own client")
        #expect(ended.allSatisfy { $0.event.kind == .revoked })
        audit.reset()

        // Expiry seen by a lookup, and by the sweep: the store's own reason.
        clock.advance(by: .minutes(31))
        #expect(try await store.lookup(key: idle) == nil)
        #expect(audit.endings.map(\.handle) == [d.handle])
        #expect(audit.endings.map(\.reason) == [.idle])
        let (_, e) = try await login("erin")
        audit.reset()
        clock.advance(by: .minutes(31))
        #expect(try await store.sweep() == 1)
        #expect(audit.endings.map(\.handle) == [e.handle])
        #expect(audit.all.first?.event.kind == .ended(.idle))
        #expect(audit.all.first?.event.isCausedByRequest == false)
    }

    func revokeAllIsAuditedPerSession() async throws {
        let (_, a) = try await login("alice")
        let (_, b) = try await login("bob")
        let (_, c) = try await login("carol")
        audit.reset()
        let admin = SessionRequestContext(requestID: "all", origin: .unknown, endReason: .admin)
        #expect(try await admin.run { try await store.revokeAll() } == 3)
        #expect(Set(audit.endings.map(\.handle)) == [a.handle, b.handle, c.handle])
        #expect(audit.all.allSatisfy { $0.reason == .admin && $0.requestID == "all" })
    }
}
