import Crypto
import Foundation
import Testing

@testable import CloakroomOIDC

/// The verdict cache on its own: keyed by digest, valid until exp, refusals for a minute,
/// bounded with expired entries evicted first, then the oldest.
@Suite struct BearerCacheTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func valid(_ name: String, until seconds: Double) -> BearerCheck {
        .valid(VerifiedBearer(attributes: ["sub": .string(name)], expiresAt: now.addingTimeInterval(seconds), handle: name))
    }

    @Test func evictsExpiredEntriesFirstThenTheOldest() {
        let cache = BearerCache(capacity: 4)
        let keys = (0..<6).map { BearerCache.key("token-\($0)") }
        cache.store(Self.valid("short", until: 10), for: keys[0], now: Self.now)
        for index in 1...3 { cache.store(Self.valid("t\(index)", until: 3600), for: keys[index], now: Self.now) }
        #expect(cache.count == 4)

        // Full at now + 20: the expired entry makes room, the others stay.
        let later = Self.now.addingTimeInterval(20)
        cache.store(Self.valid("t4", until: 3600), for: keys[4], now: later)
        #expect(cache.count == 4)
        #expect(cache.lookup(keys[0], now: later) == nil)
        for index in 1...4 { #expect(cache.lookup(keys[index], now: later) != nil) }

        // Full with nothing expired: the oldest goes.
        cache.store(Self.valid("t5", until: 3600), for: keys[5], now: later)
        #expect(cache.count <= 4)
        #expect(cache.lookup(keys[1], now: later) == nil, "the oldest went")
        #expect(cache.lookup(keys[5], now: later) == Self.valid("t5", until: 3600))
    }

    @Test func replacingAnEntryNeedsNoRoom() {
        let cache = BearerCache(capacity: 2)
        let a = BearerCache.key("a"), b = BearerCache.key("b")
        cache.store(Self.valid("a", until: 60), for: a, now: Self.now)
        cache.store(Self.valid("b", until: 60), for: b, now: Self.now)
        cache.store(Self.valid("a2", until: 60), for: a, now: Self.now)
        #expect(cache.count == 2)
        #expect(cache.lookup(b, now: Self.now) != nil)
    }

    @Test func anUnreachableProviderIsNeverStored() {
        let cache = BearerCache()
        cache.store(.providerUnavailable("down"), for: BearerCache.key("x"), now: Self.now)
        #expect(cache.count == 0)
    }

    @Test func theHandleIsSixteenBase64URLCharactersOfTheDigest() {
        let handle = BearerCache.handle(BearerCache.key("some.token.value"))
        #expect(handle.count == 16)
        #expect(handle.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(handle != BearerCache.handle(BearerCache.key("some.token.valuf")))
    }
}
