import CloakroomSessions
import Foundation
import Testing

/// Conformance checks: creating, looking up, touching and expiring.
extension StoreFixture {
    func createAndLookup() async throws {
        let t0 = clock.now()
        let attributes: JSONObject = ["sub": "alice", "email": "alice@example.com", "roles": ["admin", "dev"], "level": 3]
        let key = Self.newKey()
        let created = try await store.create(key: key, attributes: attributes)
        #expect(created.attributes == attributes)
        #expect(created.subject == "alice")
        #expect(!created.handle.isEmpty)
        #expect(created.createdAt == t0)
        #expect(created.lastSeenAt == t0)
        #expect(created.expiresAt == t0.addingTimeInterval(30 * 60))

        let found = try #require(try await store.lookup(key: key))
        #expect(found == created)
        #expect(try await store.lookup(key: Self.newKey()) == nil)

        let other = try await create("bob")
        #expect(other.session.handle != created.handle)
        #expect(try await store.lookup(key: other.key)?.subject == "bob")
        #expect(try await store.lookup(key: key)?.subject == "alice")
    }

    func missingSubjectRejected() async throws {
        let invalid: [JSONObject] = [[:], ["email": "a@example.com"], ["sub": ""], ["sub": 42], ["sub": .null], ["sub": ["alice"]]]
        for attributes in invalid {
            let key = Self.newKey()
            await #expect(throws: SessionStoreError.missingSubject, "attributes \(attributes)") {
                try await store.create(key: key, attributes: attributes)
            }
            #expect(try await store.lookup(key: key) == nil)
        }
        #expect(try await store.sessions(subject: nil).isEmpty)
    }

    func touchInterval() async throws {
        let t0 = clock.now()
        let (key, _) = try await create("alice")

        clock.advance(by: .seconds(30))
        let early = try #require(try await store.lookup(key: key))
        #expect(early.lastSeenAt == t0, "a lookup within the touch interval must not write last_seen_at")
        #expect(early.expiresAt == t0.addingTimeInterval(30 * 60))

        clock.advance(by: .seconds(30))
        let t1 = clock.now()
        let later = try #require(try await store.lookup(key: key))
        #expect(later.lastSeenAt == t1, "a lookup a full touch interval later must write last_seen_at")
        #expect(later.expiresAt == t1.addingTimeInterval(30 * 60))
        #expect(later.createdAt == t0)

        clock.advance(by: .seconds(59))
        #expect(try await store.lookup(key: key)?.lastSeenAt == t1)
    }

    func idleExpiry() async throws {
        let (idle, _) = try await create("alice")
        let (active, _) = try await create("bob")

        clock.advance(by: .minutes(29))
        #expect(try await isLive(active))  // slides bob's idle deadline to t0 + 59 min

        clock.advance(by: .minutes(1))  // t0 + 30 min: exactly alice's deadline
        #expect(try await store.lookup(key: idle) == nil, "a session is gone at its idle deadline")
        #expect(try await store.lookup(key: idle) == nil)
        #expect(try await isLive(active), "activity moves the idle deadline")

        clock.advance(by: .minutes(30))  // t0 + 60 min: 30 min after bob's last touch
        #expect(try await store.lookup(key: active) == nil)
        #expect(try await store.sessions(subject: nil).isEmpty)
    }

    /// The tunnel watcher's question: which sessions are still live, asked without keeping
    /// any of them alive.
    func liveKeysWithoutTouching() async throws {
        let (kept, _) = try await create("alice")
        let (revoked, _) = try await create("alice")
        let (watched, _) = try await create("bob")
        let unknown = Self.newKey()
        #expect(try await store.revoke(key: revoked))
        #expect(try await store.liveKeys(among: []).isEmpty)

        clock.advance(by: .minutes(20))
        #expect(try await store.liveKeys(among: [kept, revoked, watched, unknown]) == [kept, watched])
        #expect(try await isLive(kept))  // a real request slides alice's deadline to t0 + 50 min

        clock.advance(by: .minutes(15))  // t0 + 35 min: past bob's idle deadline, asking never slid it
        #expect(try await store.liveKeys(among: [kept, watched]) == [kept])
        #expect(try await store.lookup(key: watched) == nil)

        clock.advance(by: .minutes(15))  // t0 + 50 min
        #expect(try await store.liveKeys(among: [kept]).isEmpty)
    }

    func absoluteExpiryDespiteActivity() async throws {
        let t0 = clock.now()
        let (key, _) = try await create("alice")
        let deadline = t0.addingTimeInterval(12 * 3600)

        // A lookup every 20 minutes keeps the idle deadline away...
        for _ in 0..<35 {
            clock.advance(by: .minutes(20))
            let session = try #require(try await store.lookup(key: key), "live at \(clock.now())")
            #expect(session.expiresAt <= deadline)
        }
        clock.advance(by: .minutes(19))  // t0 + 11 h 59 min
        let last = try #require(try await store.lookup(key: key))
        #expect(last.expiresAt == deadline, "expires_at is capped by the absolute timeout")

        // ...but not the absolute one.
        clock.advance(by: .minutes(1))
        #expect(try await store.lookup(key: key) == nil)
        #expect(try await store.sessions(subject: "alice").isEmpty)
    }

    func sweepCountsExpired() async throws {
        for _ in 0..<3 { try await create("old") }
        clock.advance(by: .minutes(10))
        let (fresh1, _) = try await create("new")
        let (fresh2, _) = try await create("new")
        #expect(try await store.sweep() == 0)

        clock.advance(by: .minutes(25))  // the first three are 35 min idle, the others 25
        #expect(try await store.sweep() == 3)
        #expect(try await store.sweep() == 0)
        #expect(try await store.sessions(subject: nil).count == 2)
        #expect(try await store.sessions(subject: "old").isEmpty)
        #expect(try await isLive(fresh1))
        #expect(try await isLive(fresh2))
    }

    func concurrentUseStaysConsistent() async throws {
        // 100 tasks each create a session for one of 10 users, look up their own and a
        // neighbour's, patch their own, and every third revokes its own.
        let keys = (0..<100).map { _ in Self.newKey() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let key = keys[i]
                    _ = try await store.create(key: key, attributes: ["sub": .string("user\(i % 10)"), "n": .number(Double(i))])
                    #expect(try await store.lookup(key: key) != nil)
                    _ = try await store.lookup(key: keys[(i + 1) % 100])
                    let updated = try await store.update(key: key, patch: ["patched": true])
                    #expect(updated?.attributes["patched"] == true)
                    if i % 3 == 0 {
                        #expect(try await store.revoke(key: key))
                    }
                }
            }
            try await group.waitForAll()
        }

        let survivors = (0..<100).filter { $0 % 3 != 0 }
        #expect(try await store.sessions(subject: nil).count == survivors.count)
        for i in 0..<100 {
            let session = try await store.lookup(key: keys[i])
            if i % 3 == 0 {
                #expect(session == nil, "session \(i) was revoked")
            } else {
                let expected: JSONObject = ["sub": .string("user\(i % 10)"), "n": .number(Double(i)), "patched": true]
                #expect(session?.attributes == expected, "session \(i)")
            }
        }
        for user in 0..<10 {
            let expected = survivors.filter { $0 % 10 == user }.count
            #expect(try await store.sessions(subject: "user\(user)").count == expected)
        }
    }
}

/// Conformance checks: what goes in comes back, and counting.
extension StoreFixture {
    func attributesRoundTrip() async throws {
        // Whatever a store does with attributes (compact text, a file, a network), every JSON
        // shape and awkward string survives it.
        let attributes: JSONObject = [
            "sub": "ünïcødé \u{1F600}", "quote": "a\"b\\c\nd\u{0}e", "n": 0.1, "big": 1e300, "neg": -42,
            "nested": ["list": [true, false, .null, ["deep": [:]]]], "empty": "",
        ]
        let key = Self.newKey()
        let created = try await store.create(key: key, attributes: attributes)
        #expect(created.attributes == attributes)
        #expect(try await store.lookup(key: key)?.attributes == attributes)
        let listed = try await store.sessions(subject: "ünïcødé \u{1F600}")
        #expect(listed.map(\.attributes) == [attributes])
        #expect(try await store.sessions(subject: "unicode").isEmpty, "subjects compare exactly")
    }

    func liveCountExcludesExpired() async throws {
        #expect(try await store.liveCount() == 0)
        let (old, _) = try await create("alice")
        try await create("bob")
        clock.advance(by: .minutes(20))
        let (fresh, _) = try await create("carol")
        #expect(try await store.liveCount() == 3)
        _ = try await store.revoke(key: fresh)
        #expect(try await store.liveCount() == 2)
        clock.advance(by: .minutes(10))  // alice and bob pass their idle deadline
        #expect(try await store.liveCount() == 0)
        #expect(try await store.lookup(key: old) == nil)
        try await create("dave")
        #expect(try await store.liveCount() == 1)
    }
}
