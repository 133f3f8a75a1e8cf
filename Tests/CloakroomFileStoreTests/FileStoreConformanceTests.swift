import CloakroomFileStore
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Testing

/// The behaviour every store shares, against a fresh file each time.
@Suite struct FileStoreConformanceTests {
    @Test(arguments: SessionStoreConformance.Check.allCases)
    func conformance(_ check: SessionStoreConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await SessionStoreConformance { clock, timeouts in
                try await openStore(directory.appendingPathComponent("sessions.db").path, clock: clock, timeouts: timeouts)
            }.run(check)
        }
    }

    /// The same checks through the lookup requests use: `lookupNow` with a connection's cache.
    @Test(arguments: SessionStoreConformance.Check.allCases)
    func conformanceOfTheRequestLookup(_ check: SessionStoreConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await SessionStoreConformance(lookupPath: { ProductionLookupStore.immediate() }) { clock, timeouts in
                try await openStore(directory.appendingPathComponent("sessions.db").path, clock: clock, timeouts: timeouts)
            }.run(check)
        }
    }
}

@Suite struct FileProviderStoreTests {
    @Test(arguments: ProviderStoreConformance.Check.allCases)
    func providerConformance(_ check: ProviderStoreConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await ProviderStoreConformance { clock, timeouts in
                try await openStore(directory.appendingPathComponent("sessions.db").path, clock: clock, timeouts: timeouts)
            }.run(check)
        }
    }

    /// The private part and the links are in the file: after a restart the tokens are there,
    /// and a back-channel logout still finds the session.
    @Test func privatePartAndLinksSurviveARestart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("sessions.db").path
            let clock = ManualWallClock()
            let key = SessionID.random().key, other = SessionID.random().key
            let first = try await openStore(path, clock: clock)
            _ = try await first.create(key: key, attributes: ["sub": "alice"], secrets: ["access_token": "at-1"], links: ["sid:one", "sub:alice"])
            _ = try await first.create(key: other, attributes: ["sub": "bob"])
            try await first.close()
            let second = try await openStore(path, clock: clock)
            #expect(try await second.secrets(key: key) == ["access_token": "at-1"])
            #expect(try await second.lookup(key: key)?.attributes == ["sub": "alice"])
            #expect(try await second.revokeAll(link: "sid:one") == 1)
            #expect(try await second.lookup(key: other) != nil)
            try await second.close()
        }
    }
}
