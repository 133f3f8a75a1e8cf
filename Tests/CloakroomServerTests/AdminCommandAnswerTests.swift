import Foundation
import NIOHTTP1
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

    /// Another server at `--admin` (a public listener, a backend that echoes the request) used
    /// to get its body printed (`the admin API answered 200: {...}`, token and all) and its 401
    /// taken for the admin API refusing the token. An answer with a status the call does not
    /// expect is explained only when it is the admin API's own error JSON; anything else is
    /// "answered N without the admin API's JSON" (exit 1), and no body of it is printed.
    @Test func onlyTheAdminAPIsOwnErrorsAreExplainedAndNoOtherBodyIsPrinted() async throws {
        let token = "secret-admin-token-0123456789abcdef"
        let echo = #"{"authorization":"Bearer \#(token)"}"#
        let notAdmin = "without the admin API's JSON"
        let cases: [(arguments: [String], status: HTTPResponseStatus, body: String, says: String)] = [
            (["sessions", "revoke", "--session", "abc"], .ok, echo, "answered 200 \(notAdmin)"),
            (["keys", "revoke", "--key", "abc"], .ok, echo, "answered 200 \(notAdmin)"),
            (["keys", "create", "--user", "alice"], .ok, echo, "answered 200 \(notAdmin)"),
            (["keys", "create", "--user", "alice"], .created, echo, "answered 201 \(notAdmin)"),
            (["sessions", "list"], .unauthorized, #"{"error":"unauthenticated"}"#, "answered 401 \(notAdmin)"),
            (["sessions", "revoke", "--all"], .badRequest, #"{"error":"nope","message":"\#(token)"}"#, "answered 400 \(notAdmin)"),
            (["sessions", "revoke", "--session", "abc"], .notFound, "<html>\(token)</html>", "answered 404 \(notAdmin)"),
            (["keys", "list"], .internalServerError, echo, "answered 500 \(notAdmin)"),
            // The admin API's own errors, explained.
            (["sessions", "list"], .unauthorized, #"{"error":"unauthorized"}"#, "the admin API refused the token (401)"),
            (["sessions", "revoke", "--session", "abc"], .notFound, #"{"error":"not_found"}"#, "not found (404): DELETE http://127.0.0.1:"),
            (["sessions", "list", "--user", "bob"], .notFound, #"{"error":"not_found"}"#, "/sessions\n"),
            (["keys", "create", "--user", "alice"], .badRequest, #"{"error":"invalid_ttl","message":"\"ttl\" must be positive"}"#,
             #"the admin API refused the request (400): "ttl" must be positive"#),
            (["sessions", "revoke", "--user", "a"], .serviceUnavailable, #"{"error":"session_store_unavailable"}"#,
             "the admin API cannot reach its session store (503)"),
            (["keys", "list"], .notImplemented, #"{"error":"api_keys_unsupported"}"#, "the admin API answered 501 (api_keys_unsupported)"),
        ]
        for (arguments, status, body, says) in cases {
            let api = try await ScriptedAdminAPI.start(answering: body, status: status)
            let run = try await CommandLineTests.run(
                arguments + ["--admin", "http://127.0.0.1:\(api.port)", "--token", token], unsetting: Self.unset, killAfter: 20)
            await api.stop()
            let label = "\(arguments) → \(status.code)"
            #expect(run.status == 1, "\(label): \(run.status) \(run.output)\(run.errors)")
            #expect(run.errors.contains(says), "\(label): \(run.errors)")
            #expect(!(run.output + run.errors).contains(token), "\(label): the body is never printed: \(run.output)\(run.errors)")
            #expect(!run.output.contains("revoked") && !run.output.contains("handle:"), "\(label): \(run.output)")
            if says.contains(notAdmin) { #expect(!run.errors.contains("refused the token"), "\(label): \(run.errors)") }
        }
    }
}
