@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Testing

extension RedisServerTests {
    /// Revocations travel between instances over pub/sub.
    @Suite struct RedisEndingsTests {
        @Test func anotherInstanceHearsEveryKindOfRevocationWithinASecond() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                let settings = try storeSettings(redis.url, prefix: "shared:")
                let a = try makeStore(settings, clock: clock)
                let b = try makeStore(settings, clock: clock)
                let elsewhere = try makeStore(try storeSettings(redis.url, prefix: "other:"), clock: clock)
                try await withStore(a) { a in
                    try await withStore(b) { b in
                        try await withStore(elsewhere) { elsewhere in
                            let heardByB = Locked<[SessionEnding]>([])
                            let heardByA = Locked<[SessionEnding]>([])
                            let heardElsewhere = Locked<[SessionEnding]>([])
                            b.observeEndings { ending in heardByB.withLock { $0.append(ending) } }
                            a.observeEndings { ending in heardByA.withLock { $0.append(ending) } }
                            elsewhere.observeEndings { ending in heardElsewhere.withLock { $0.append(ending) } }
                            await b.waitUntilSubscribed()
                            await a.waitUntilSubscribed()
                            await elsewhere.waitUntilSubscribed()

                            let fixture = StoreFixture(store: a, clock: clock)
                            let (byKey, _) = try await fixture.create("alice")
                            let (byHandle, handleSession) = try await fixture.create("alice")
                            try await fixture.create("bob")
                            try await fixture.create("carol")

                            #expect(try await a.revoke(key: byKey))
                            #expect(await eventually(within: .seconds(1)) { heardByB.value == [.session(byKey)] })
                            #expect(try await a.revoke(handle: handleSession.handle))
                            #expect(await eventually(within: .seconds(1)) { heardByB.value.last == .session(byHandle) })
                            #expect(try await a.revokeAll(subject: "bob") == 1)
                            #expect(await eventually(within: .seconds(1)) { heardByB.value.last == .subject("bob") })
                            #expect(try await a.revokeAll() == 1)
                            #expect(await eventually(within: .seconds(1)) { heardByB.value.last == .everyone })

                            let expected: [SessionEnding] = [.session(byKey), .session(byHandle), .subject("bob"), .everyone]
                            #expect(heardByB.value == expected)
                            #expect(await eventually(within: .seconds(1)) { heardByA.value == expected }, "an instance hears its own")

                            // Nothing ended, nothing announced (apart from revokeAll, which always is).
                            #expect(try await a.revoke(key: byKey) == false)
                            #expect(try await a.revokeAll(subject: "nobody") == 0)
                            try await Task.sleep(for: .milliseconds(100))
                            #expect(heardByB.value == expected)
                            #expect(heardElsewhere.value.isEmpty, "another prefix is another channel")
                        }
                    }
                }
            }
        }

        /// The subscriber reconnects by itself when Redis restarts.
        @Test func subscriptionSurvivesARestart() async throws {
            try await RedisServerProcess.with { redis in
                let clock = ManualWallClock()
                let settings = try storeSettings(redis.url, prefix: "shared:")
                try await withStore(try makeStore(settings, clock: clock)) { a in
                    try await withStore(try makeStore(settings, clock: clock)) { b in
                        let heard = Locked<[SessionEnding]>([])
                        b.observeEndings { ending in heard.withLock { $0.append(ending) } }
                        await b.waitUntilSubscribed()

                        #expect(b.subscriber.confirmations == 1)
                        try await redis.restart()
                        #expect(await eventually(within: .seconds(1)) { b.subscriber.confirmations == 2 }, "subscribed again")
                        let (key, _) = try await StoreFixture(store: a, clock: clock).create("alice")
                        #expect(try await a.revoke(key: key))
                        #expect(await eventually(within: .seconds(1)) { heard.value == [.session(key)] })
                    }
                }
            }
        }

        @Test func malformedMessagesAreDropped() {
            #expect(EndingObservers.ending(from: .init(string: "*")) == .everyone)
            #expect(EndingObservers.ending(from: .init(string: "u:alice:smith")) == .subject("alice:smith"))
            let key = StoreFixture.newKey()
            #expect(EndingObservers.ending(from: .init(string: "k:\(key.hex)")) == .session(key))
            for junk in ["", "k:", "k:abc", "k:\(key.hex)00", "u:", "x:y", "**"] {
                #expect(EndingObservers.ending(from: .init(string: junk)) == nil, "\(junk)")
            }
        }
    }
}
