import CloakroomSessions
import Foundation
import Testing

/// API keys, as one suite every store runs (memory, file, Redis): created with a fresh handle,
/// found by the hash of the key until revoked or expired, `last_used_at` touched once per touch
/// interval, listed oldest first, revoked one by one or by user, swept, audited, and apart from
/// the sessions (never listed or counted with them, never ended by a revoke of everyone's
/// sessions or by the per-user limit). Time moves through the store's ``ManualWallClock``.
public struct APIKeyStoreConformance: Sendable {
    public typealias Store = any SessionAuditSource & APIKeyStore
    public typealias Factory = @Sendable (ManualWallClock, SessionTimeouts) async throws -> Store

    public enum Check: String, CaseIterable, Sendable {
        case createdKeyIsFoundByItsHash
        case attributesNeedASubject
        case lastUsedIsTouchedOncePerInterval
        case keyExpiresAtItsDeadline
        case revokeOneByHandle
        case revokeByUser
        case listingIsOldestFirstAndLive
        case keysAreNotSessions
        case sweepRemovesExpiredKeys
        case creationAndEndingsAreAudited
        case concurrentUse
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
            try await APIKeyFixture(store: store, clock: clock, audit: audit).perform(check)
        }
    }

    public func runAll() async throws {
        for check in Check.allCases { try await run(check) }
    }
}

/// One store under test, and the helpers the checks share (and store-specific tests reuse).
public struct APIKeyFixture: Sendable {
    public let store: APIKeyStoreConformance.Store
    public let clock: ManualWallClock
    public let audit: AuditRecorder

    public init(store: APIKeyStoreConformance.Store, clock: ManualWallClock, audit: AuditRecorder = AuditRecorder()) {
        self.store = store
        self.clock = clock
        self.audit = audit
    }

    /// Creates a key for `subject` under a fresh secret; returns the store key and the record.
    @discardableResult
    public func create(_ subject: String, name: String? = nil, ttl: Duration = APIKeyLifetime.default, _ extra: JSONObject = [:])
        async throws -> (key: SessionKey, record: APIKey)
    {
        let secret = APIKeySecret.random()
        var attributes = extra
        attributes["sub"] = .string(subject)
        return (secret.key, try await store.createKey(key: secret.key, attributes: attributes, name: name, ttl: ttl))
    }

    public func handles(_ subject: String?) async throws -> [String] {
        try await store.apiKeys(subject: subject).map(\.handle)
    }

    func perform(_ check: APIKeyStoreConformance.Check) async throws {
        switch check {
        case .createdKeyIsFoundByItsHash: try await createdKeyIsFoundByItsHash()
        case .attributesNeedASubject: try await attributesNeedASubject()
        case .lastUsedIsTouchedOncePerInterval: try await lastUsedIsTouchedOncePerInterval()
        case .keyExpiresAtItsDeadline: try await keyExpiresAtItsDeadline()
        case .revokeOneByHandle: try await revokeOneByHandle()
        case .revokeByUser: try await revokeByUser()
        case .listingIsOldestFirstAndLive: try await listingIsOldestFirstAndLive()
        case .keysAreNotSessions: try await keysAreNotSessions()
        case .sweepRemovesExpiredKeys: try await sweepRemovesExpiredKeys()
        case .creationAndEndingsAreAudited: try await creationAndEndingsAreAudited()
        case .concurrentUse: try await concurrentUse()
        }
    }

    func createdKeyIsFoundByItsHash() async throws {
        let now = clock.now()
        let (key, record) = try await create("ci-bot", name: "deploy", ttl: .hours(48), ["team": "infra", "n": 3])
        #expect(SessionHandle.isWellFormed(record.handle))
        #expect(record.name == "deploy")
        #expect(record.attributes == ["sub": "ci-bot", "team": "infra", "n": 3])
        #expect(record.createdAt == now)
        #expect(record.lastUsedAt == nil, "unused until its first lookup")
        #expect(record.expiresAt == now.addingTimeInterval(48 * 3600))
        let found = try #require(try await store.lookupKey(key: key))
        #expect(found.handle == record.handle && found.attributes == record.attributes && found.name == "deploy")
        #expect(found.createdAt == now && found.expiresAt == record.expiresAt)
        #expect(try await store.lookupKey(key: APIKeySecret.random().key) == nil, "another key finds nothing")
        // Without a name; two keys of one user have different handles.
        clock.advance(by: .seconds(1))
        let (_, unnamed) = try await create("ci-bot")
        #expect(unnamed.name == nil && unnamed.handle != record.handle)
        #expect(try await store.apiKeys(subject: "ci-bot").map(\.name) == ["deploy", nil])
    }

    func attributesNeedASubject() async throws {
        for attributes: JSONObject in [[:], ["sub": 7], ["sub": ""], ["name": "ci"]] {
            await #expect(throws: SessionStoreError.missingSubject) {
                _ = try await store.createKey(key: APIKeySecret.random().key, attributes: attributes, name: nil, ttl: .hours(1))
            }
        }
        #expect(try await store.apiKeys(subject: nil).isEmpty)
    }

    func lastUsedIsTouchedOncePerInterval() async throws {
        let (key, record) = try await create("ci-bot")
        clock.advance(by: .seconds(5))
        let first = clock.now()
        #expect(try await store.lookupKey(key: key)?.lastUsedAt == first)
        clock.advance(by: .seconds(30))  // within the touch interval (a minute)
        #expect(try await store.lookupKey(key: key)?.lastUsedAt == first)
        #expect(try await store.apiKeys(subject: "ci-bot").first?.lastUsedAt == first)
        clock.advance(by: .seconds(31))
        let second = clock.now()
        #expect(try await store.lookupKey(key: key)?.lastUsedAt == second)
        let listed = try #require(try await store.apiKeys(subject: nil).first)
        #expect(listed.lastUsedAt == second)
        #expect(listed.expiresAt == record.expiresAt, "use never extends a key")
    }

    func keyExpiresAtItsDeadline() async throws {
        let (key, _) = try await create("ci-bot", ttl: .hours(2))
        clock.advance(by: .hours(2) - .seconds(1))
        #expect(try await store.lookupKey(key: key) != nil)
        clock.advance(by: .seconds(1))
        #expect(try await store.lookupKey(key: key) == nil, "at expires_at it is gone")
        #expect(try await store.apiKeys(subject: nil).isEmpty)
        #expect(try await store.lookupKey(key: key) == nil)
    }

    func revokeOneByHandle() async throws {
        let (key, record) = try await create("ci-bot")
        let (other, _) = try await create("ci-bot")
        #expect(try await store.revokeKey(handle: record.handle))
        #expect(try await store.lookupKey(key: key) == nil)
        #expect(try await store.lookupKey(key: other) != nil, "the user's other key stays")
        #expect(try await store.revokeKey(handle: record.handle) == false, "already revoked")
        #expect(try await store.revokeKey(handle: SessionHandle.random()) == false)
        #expect(try await store.revokeKey(handle: "not a handle") == false)
        #expect(try await store.revokeKey(handle: "") == false)
    }

    func revokeByUser() async throws {
        let (a1, _) = try await create("alice")
        clock.advance(by: .seconds(1))
        let (a2, _) = try await create("alice")
        let (b, _) = try await create("bob")
        let (prefix, _) = try await create("ali")
        #expect(try await store.revokeKeys(subject: "alice") == 2)
        #expect(try await store.lookupKey(key: a1) == nil)
        #expect(try await store.lookupKey(key: a2) == nil)
        #expect(try await store.lookupKey(key: b) != nil)
        #expect(try await store.lookupKey(key: prefix) != nil, "only exactly that sub")
        #expect(try await store.revokeKeys(subject: "alice") == 0)
        #expect(try await store.revokeKeys(subject: "nobody") == 0)
        // An expired key is removed but not counted: it had already ended.
        try await create("carol", ttl: .hours(1))
        try await create("carol", ttl: .hours(3))
        clock.advance(by: .hours(2))
        #expect(try await store.revokeKeys(subject: "carol") == 1)
    }

    func listingIsOldestFirstAndLive() async throws {
        var made: [APIKey] = []
        for (index, subject) in ["bob", "alice", "bob", "carol"].enumerated() {
            made.append(try await create(subject, name: "k\(index)", ttl: index == 3 ? .hours(1) : .hours(10)).record)
            clock.advance(by: .seconds(10))
        }
        #expect(try await handles(nil) == made.map(\.handle))
        #expect(try await handles("bob") == [made[0].handle, made[2].handle])
        #expect(try await handles("nobody") == [])
        clock.advance(by: .hours(1))
        #expect(try await handles(nil) == made.prefix(3).map(\.handle), "an expired key is never listed")
        #expect(try await handles("carol") == [])
    }

    func keysAreNotSessions() async throws {
        let sessions = StoreFixture(store: store, clock: clock)
        let (sessionKey, session) = try await sessions.create("alice")
        let (key, _) = try await create("alice")
        #expect(try await sessions.handles("alice") == [session.handle], "a key is never listed as a session")
        #expect(try await sessions.handles(nil) == [session.handle])
        #expect(try await store.liveCount() == 1)
        #expect(try await store.lookup(key: key) == nil, "a key's hash names no session")
        #expect(try await store.lookupKey(key: sessionKey) == nil, "a session's key names no API key")
        // The per-user limit counts sessions only.
        _ = try await store.create(key: StoreFixture.newKey(), attributes: ["sub": "alice"], origin: .unknown, maxPerUser: 1)
        #expect(try await store.lookupKey(key: key) != nil)
        // Revoking sessions, the user's or everyone's, leaves keys.
        #expect(try await store.revokeAll(subject: "alice") == 1)
        #expect(try await store.lookupKey(key: key) != nil)
        try await sessions.create("alice")
        #expect(try await store.revokeAll() == 1)
        #expect(try await store.lookupKey(key: key) != nil)
        #expect(try await handles("alice").count == 1)
        // And revoking keys leaves sessions.
        let (kept, _) = try await sessions.create("alice")
        #expect(try await store.revokeKeys(subject: "alice") == 1)
        #expect(try await store.lookup(key: kept) != nil)
    }

    func sweepRemovesExpiredKeys() async throws {
        let (_, short) = try await create("ci-bot", ttl: .hours(1))
        let (long, _) = try await create("ci-bot", ttl: .hours(3))
        clock.advance(by: .hours(2))
        audit.reset()
        _ = try await store.sweep()
        let endings = audit.all.filter { $0.event.credential == .apiKey }
        #expect(endings.map(\.event.handle) == [short.handle])
        #expect(endings.first?.reason == .absolute)
        _ = try await store.sweep()
        #expect(audit.all.filter { $0.event.credential == .apiKey }.count == 1, "swept once")
        #expect(try await store.lookupKey(key: long) != nil)
    }

    func creationAndEndingsAreAudited() async throws {
        let admin = SessionRequestContext(requestID: "admin-1", origin: .unknown, endReason: .admin)
        let (_, made) = try await admin.run { try await create("ci-bot", name: "deploy", ttl: .hours(1)) }
        let (_, other) = try await create("ci-bot")
        let created = audit.all.filter { $0.event.kind == .created }
        #expect(created.map(\.event.credential) == [.apiKey, .apiKey])
        #expect(created.first?.event.handle == made.handle && created.first?.event.subject == "ci-bot")
        #expect(created.first?.requestID == "admin-1")
        audit.reset()
        #expect(try await admin.run { try await store.revokeKey(handle: other.handle) })
        #expect(audit.all.map(\.event.kind) == [.revoked])
        #expect(audit.all.first?.reason == .admin && audit.all.first?.requestID == "admin-1")
        #expect(audit.all.first?.event.credential == .apiKey && audit.all.first?.event.handle == other.handle)
        audit.reset()
        clock.advance(by: .hours(1))
        #expect(try await store.apiKeys(subject: nil).isEmpty)
        _ = try await store.sweep()
        #expect(audit.all.map(\.event.kind) == [.ended(.absolute)], "the expiry is reported once")
        #expect(audit.all.first?.event.handle == made.handle)
        // Sessions' events stay sessions'.
        audit.reset()
        try await StoreFixture(store: store, clock: clock).create("alice")
        #expect(audit.all.map(\.event.credential) == [.session])
    }

    func concurrentUse() async throws {
        let made = try await withThrowingTaskGroup(of: (SessionKey, APIKey).self) { group in
            for index in 0..<16 { group.addTask { try await self.create("user-\(index % 4)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(made.map(\.1.handle)).count == 16)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for (key, _) in made { for _ in 0..<4 { group.addTask { try await store.lookupKey(key: key) != nil } } }
            for try await found in group { #expect(found) }
        }
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<4 { group.addTask { try await store.revokeKeys(subject: "user-\(index)") } }
            return try await group.reduce(0, +)
        }
        #expect(counts == 16)
        #expect(try await store.apiKeys(subject: nil).isEmpty)
    }
}
