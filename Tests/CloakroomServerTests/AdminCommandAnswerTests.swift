import Foundation
import Testing

/// What the admin-talking commands refuse before and after sending: an empty name, which would
/// make `/sessions/` (read once as "everyone"), and an answer that is not the admin API's.
@Suite(.serialized) struct AdminCommandAnswerTests {
    static let unset = ["CLOAKROOM_ADMIN_TOKEN", "CLOAKROOM_CONFIG"]

    /// `--session ""` used to send `DELETE /sessions/`, which the admin API took for `DELETE
    /// /sessions`: every session ended. An empty handle or sub is a usage error; nothing is sent.
    @Test func anEmptyHandleOrSubIsAUsageErrorAndSendsNothing() async throws {
        let backend = try await TestBackend.start()
        let admin = ["--admin", "http://127.0.0.1:\(backend.port)", "--token", "t"]
        for arguments in [
            ["sessions", "revoke", "--session", ""], ["sessions", "revoke", "--user", ""], ["sessions", "list", "--user", ""],
            ["keys", "revoke", "--key", ""], ["keys", "revoke", "--user", ""], ["keys", "list", "--user", ""],
        ] {
            let run = try await CommandLineTests.run(arguments + admin, unsetting: Self.unset)
            #expect(run.status == 2, "\(arguments): \(run.status) \(run.output)\(run.errors)")
            #expect(run.errors.contains("must not be empty"), "\(arguments): \(run.errors)")
        }
        #expect(backend.requests.isEmpty, "\(backend.requests.map { "\($0.method) \($0.uri)" })")
        await backend.stop()
    }

    /// `--admin` naming another HTTP server, which answers 200 `{"ok":true}` to anything: no
    /// command may report success from that.
    @Test func anAnswerWithoutTheAdminAPIsShapeIsAFailure() async throws {
        let backend = try await TestBackend.start()
        let admin = ["--admin", "http://127.0.0.1:\(backend.port)", "--token", "t"]
        for arguments in [
            ["sessions", "list"], ["sessions", "list", "--json"], ["sessions", "revoke", "--all"],
            ["sessions", "revoke", "--user", "alice"], ["keys", "list"], ["keys", "revoke", "--user", "alice"],
        ] {
            let run = try await CommandLineTests.run(arguments + admin, unsetting: Self.unset)
            #expect(run.status == 1, "\(arguments): \(run.status) \(run.output)\(run.errors)")
            #expect(run.errors.contains("without the admin API's JSON"), "\(arguments): \(run.errors)")
            #expect(!run.output.contains("revoked"), "\(arguments): \(run.output)")
        }
        #expect(backend.requests.count == 6)
        await backend.stop()
    }
}
