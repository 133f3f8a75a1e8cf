import CloakroomOIDC
import Foundation
import Logging
import Synchronization
import Testing

/// Discovery against a provider that answers but not with its document (a real socket): a
/// request after a failure is answered at once with it, instead of making an attempt of its
/// own, until the failure interval has passed.
@Suite struct ProviderDirectoryTests {
    @Test func aFailureIsAnsweredAtOnceUntilTheFailureInterval() async throws {
        let provider = try await TestBackend.start()
        let http = try ProviderHTTP(caPath: nil)
        let clock = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        let directory = ProviderDirectory(
            issuer: "http://127.0.0.1:\(provider.port)", http: http, logger: Logger(label: "test"), now: { clock.withLock { $0 } })
        await #expect(throws: OIDCFailure.self) { try await directory.metadata() }
        #expect(provider.requests.count == 1, "the first request tries")
        await #expect(throws: OIDCFailure.self) { try await directory.metadata() }
        #expect(provider.requests.count == 1, "the next is answered with that failure")
        clock.withLock { $0 += ProviderDirectory.failureInterval }
        await #expect(throws: OIDCFailure.self) { try await directory.metadata() }
        #expect(provider.requests.count == 2, "after the failure interval a request tries again")
        await http.shutdown()
        await provider.stop()
    }

    /// A provider client let go without `shutdown()` shuts itself down: async-http-client's
    /// debug build traps in the deinit of a client never shut down (a CI run crashed so when a
    /// server that failed to start was dropped), so this test process would not survive it.
    @Test func aClientDroppedWithoutShutdownReleasesItself() async throws {
        for _ in 0..<3 { _ = try ProviderHTTP(caPath: nil) }
        let shutDown = try ProviderHTTP(caPath: nil)
        await shutDown.shutdown()
        try await Task.sleep(for: .milliseconds(200))
    }
}
