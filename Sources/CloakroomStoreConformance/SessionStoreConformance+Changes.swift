import CloakroomSessions
import Foundation
import Testing

/// Conformance checks: revoking, listing and updating.
extension StoreFixture {
    func revokeByKey() async throws {
        let (a, _) = try await create("alice")
        let (b, _) = try await create("alice")
        #expect(try await store.revoke(key: a))
        #expect(try await store.lookup(key: a) == nil)
        #expect(try await isLive(b), "revoking one session leaves the user's others alone")
        #expect(try await store.revoke(key: a) == false, "a second revoke finds nothing")
        #expect(try await store.revoke(key: Self.newKey()) == false)
    }

    func revokeByHandle() async throws {
        let (a, sessionA) = try await create("alice")
        let (b, _) = try await create("alice")
        #expect(try await store.revoke(handle: sessionA.handle))
        #expect(try await store.lookup(key: a) == nil)
        #expect(try await isLive(b))
        #expect(try await store.revoke(handle: sessionA.handle) == false)
        #expect(try await store.revoke(handle: SessionHandle.random()) == false)
        #expect(try await store.revoke(handle: "") == false)
        #expect(try await store.revoke(handle: "not a handle at all!") == false)
    }

    func revokeBySubject() async throws {
        let (a1, _) = try await create("alice")
        let (a2, _) = try await create("alice")
        let (b, _) = try await create("bob")
        let (carol, _) = try await create("alice-smith")
        #expect(try await store.revokeAll(subject: "alice") == 2)
        #expect(try await store.lookup(key: a1) == nil)
        #expect(try await store.lookup(key: a2) == nil)
        #expect(try await isLive(b))
        #expect(try await isLive(carol), "subjects match exactly, not by prefix")
        #expect(try await store.revokeAll(subject: "alice") == 0)
        #expect(try await store.revokeAll(subject: "nobody") == 0)
        #expect(try await store.sessions(subject: nil).count == 2)
    }

    func revokeAll() async throws {
        let keys = [try await create("alice").key, try await create("bob").key, try await create("bob").key]
        #expect(try await store.revokeAll() == 3)
        for key in keys {
            #expect(try await store.lookup(key: key) == nil)
        }
        #expect(try await store.sessions(subject: nil).isEmpty)
        #expect(try await store.revokeAll() == 0)

        // The store keeps working afterwards.
        let (again, _) = try await create("alice")
        #expect(try await isLive(again))
    }

    func revokeCountsOnlyLiveSessions() async throws {
        let (stale, staleSession) = try await create("alice")
        let (staleToo, _) = try await create("bob")
        let (staleByHandle, staleByHandleSession) = try await create("carol")
        try await create("alice")
        try await create("dave")
        clock.advance(by: .minutes(20))
        let (live, _) = try await create("alice")
        let (liveBob, _) = try await create("bob")
        clock.advance(by: .minutes(10))  // the first five are past their idle deadline

        #expect(try await store.revoke(key: stale) == false, "an expired session was already ended")
        #expect(try await store.revoke(handle: staleSession.handle) == false)
        #expect(try await store.revoke(handle: staleByHandleSession.handle) == false)
        #expect(try await store.lookup(key: staleByHandle) == nil)
        #expect(try await store.revokeAll(subject: "alice") == 1)
        #expect(try await store.lookup(key: live) == nil)
        #expect(try await store.lookup(key: staleToo) == nil)
        #expect(try await store.revokeAll() == 1)
        #expect(try await store.lookup(key: liveBob) == nil)
    }

    func listOldestFirstWithoutExpired() async throws {
        let t0 = clock.now()
        let (eve, _) = try await create("eve")  // revoked below, so a store may reuse her space
        try await create("dave")  // will have expired by the time we list
        clock.advance(by: .minutes(10))
        let alice1 = try await create("alice", ["n": 1]).session
        clock.advance(by: .minutes(1))
        let bob = try await create("bob").session
        _ = try await store.revoke(key: eve)
        clock.advance(by: .minutes(1))
        let alice2 = try await create("alice", ["n": 2]).session
        clock.advance(by: .minutes(1))
        let frank = try await create("frank").session
        clock.advance(by: .minutes(18))  // t0 + 31 min: dave is past his idle deadline

        let everyone = try await store.sessions(subject: nil)
        #expect(everyone.map(\.handle) == [alice1.handle, bob.handle, alice2.handle, frank.handle])
        #expect(everyone.first == alice1)
        #expect(try await handles("alice") == [alice1.handle, alice2.handle])
        #expect(try await store.sessions(subject: "alice").last?.attributes == ["sub": "alice", "n": 2])
        #expect(try await handles("bob") == [bob.handle])
        #expect(try await handles("dave").isEmpty)
        #expect(try await handles("nobody").isEmpty)
        #expect(everyone.allSatisfy { $0.createdAt > t0 })
    }

    func mergePatchVisibleOnNextLookup() async throws {
        let (key, created) = try await create("alice", ["roles": ["a"], "theme": "dark", "prefs": ["lang": "fr", "tz": "UTC"]])
        clock.advance(by: .seconds(5))
        let patch: JSONValue = ["roles": ["a", "b"], "theme": .null, "prefs": ["lang": "en"], "sub": "alice"]
        let updated = try #require(try await store.update(key: key, patch: patch))
        let expected: JSONObject = ["sub": "alice", "roles": ["a", "b"], "prefs": ["lang": "en", "tz": "UTC"]]
        #expect(updated.attributes == expected)
        #expect(updated.handle == created.handle)
        #expect(updated.createdAt == created.createdAt)

        let found = try #require(try await store.lookup(key: key))
        #expect(found.attributes == expected)
        #expect(try await store.sessions(subject: "alice").first?.attributes == expected)
    }

    func subjectImmutable() async throws {
        let original: JSONObject = ["sub": "alice", "role": "user"]
        let key = Self.newKey()
        _ = try await store.create(key: key, attributes: original)
        let patches: [JSONValue] = [["sub": "mallory"], ["sub": .null], ["sub": 7], ["sub": "mallory", "role": "admin"], ["sub": ""]]
        for patch in patches {
            await expectInvalidPatch { _ = try await store.update(key: key, patch: patch) }
            #expect(try await store.lookup(key: key)?.attributes == original, "after \(patch)")
        }
        #expect(try await store.sessions(subject: "mallory").isEmpty)
        #expect(try await handles("alice").count == 1)
    }

    func nonObjectPatchRejected() async throws {
        let original: JSONObject = ["sub": "alice", "role": "user"]
        let key = Self.newKey()
        _ = try await store.create(key: key, attributes: original)
        let patches: [JSONValue] = [.null, "role", 1, true, ["role", "admin"]]
        for patch in patches {
            await expectInvalidPatch { _ = try await store.update(key: key, patch: patch) }
            #expect(try await store.lookup(key: key)?.attributes == original, "after \(patch)")
        }
    }

    func updateOfMissingOrExpiredReturnsNil() async throws {
        #expect(try await store.update(key: Self.newKey(), patch: ["x": 1]) == nil)
        let (key, _) = try await create("alice")
        clock.advance(by: .minutes(30))
        #expect(try await store.update(key: key, patch: ["x": 1]) == nil)
        #expect(try await store.lookup(key: key) == nil)
    }
}
