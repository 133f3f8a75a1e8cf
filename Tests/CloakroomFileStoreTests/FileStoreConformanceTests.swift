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
