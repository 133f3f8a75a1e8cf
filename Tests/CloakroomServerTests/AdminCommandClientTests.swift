import Foundation
import Testing

/// The admin-talking commands against a stand-in admin API (``ScriptedAdminAPI``) that does
/// what the real one never does: answers with names full of terminal control characters, or
/// never answers at all.
@Suite(.serialized) struct AdminCommandClientTests {
    static let unset = ["CLOAKROOM_ADMIN_TOKEN", "CLOAKROOM_CONFIG"]

    /// Characters a terminal acts on instead of showing: a newline (forges a table row), ESC
    /// (a colour, a cursor move, a title), CSI as one C1 character (U+009B), bidi overrides
    /// and isolates (text that reads in another order than it is), a line separator.
    static let hostile = "alice\n\u{1b}[2J\u{9b}31m\u{202e}evil\u{2066}x\u{2069}\r\t\u{2028}\u{7f}\\u001b"
    /// Each of them as the table shows it, the way JSON writes them in the ATTRIBUTES column:
    /// the literal text `\u001b` at the end with its backslash doubled, so it cannot pass for
    /// an escaped ESC.
    static let shown = #"alice\n\u001b[2J\u009b31m\u202eevil\u2066x\u2069\r\t\u2028\u007f\\u001b"#

    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Nothing in `text` that a terminal would act on: no C0 control but the line breaks
    /// between rows, no DEL or C1, no bidi control, no line or paragraph separator.
    static func inert(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            if scalar == "\n" { return true }
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: return false
            default: return true
            }
        }
    }

    /// A sub, a User-Agent or a key's name is whatever a backend, a client or an operator
    /// sent: `sessions list` and `keys list` used to print them raw, so one session could
    /// clear the operator's screen or add rows of its own to the table. Every cell is escaped
    /// as the ATTRIBUTES column's JSON escapes a string (`\n`, `\u001b`), one row per entry.
    @Test func tablesShowControlCharactersEscaped() async throws {
        let session: [String: Any] = [
            "handle": "Qm3xT0pL9aW2vC8k", "sub": Self.hostile, "client": "127.0.0.1", "created_at": "2026-11-21T18:40:02Z",
            "last_seen_at": "2026-11-21T18:40:05Z", "expires_at": "2026-11-21T19:10:05Z",
            "attributes": ["sub": Self.hostile, "note": "\u{202e}\u{9b}", "site": "https://a.example/c"], "user_agent": Self.hostile,
        ]
        let key: [String: Any] = [
            "handle": "Zx9", "sub": Self.hostile, "name": Self.hostile, "created_at": "2026-11-21T18:40:02Z",
            "expires_at": "2027-11-21T18:40:02Z", "attributes": ["sub": Self.hostile, "site": "https://a.example/c"],
        ]
        for (arguments, answer) in [
            (["sessions", "list"], try Self.json(["sessions": [session]])), (["keys", "list"], try Self.json(["keys": [key]])),
        ] {
            let api = try await ScriptedAdminAPI.start(answering: answer)
            let run = try await CommandLineTests.run(
                arguments + ["--admin", "http://127.0.0.1:\(api.port)", "--token", "t"], unsetting: Self.unset)
            await api.stop()
            #expect(run.status == 0, "\(arguments): \(run.errors)")
            #expect(Self.inert(run.output), "\(arguments): \(run.output.debugDescription)")
            #expect(run.output.split(separator: "\n", omittingEmptySubsequences: false).count == 3, "a header, one row, the final newline")
            #expect(run.output.components(separatedBy: Self.shown).count - 1 == 3, "SUB, ATTRIBUTES and USER AGENT or NAME: \(run.output)")
            #expect(run.output.contains(#"\u202e\u009b"#) || arguments[0] == "keys", "the ATTRIBUTES column too: \(run.output)")
            // Slashes as written (found by an audit: `https:\/\/a.example\/c`).
            #expect(run.output.contains(#""site":"https://a.example/c""#), "\(run.output)")

            // --json is the admin API's JSON as it came (JSON escapes control characters itself).
            let api2 = try await ScriptedAdminAPI.start(answering: answer)
            let json = try await CommandLineTests.run(
                arguments + ["--json", "--admin", "http://127.0.0.1:\(api2.port)", "--token", "t"], unsetting: Self.unset)
            await api2.stop()
            #expect(json.output == answer + "\n")
        }
    }
}

extension AdminCommandClientTests {
    /// Found by an audit: a created key's handle and a 400's message went to the terminal raw,
    /// control sequences and all, and a negative count was reported as done.
    @Test func answersAreEscapedAndCountsChecked() async throws {
        let created = try await ScriptedAdminAPI.start(answering: try Self.json(["handle": Self.hostile, "key": Self.hostile]), status: .created)
        let create = try await CommandLineTests.run(
            ["keys", "create", "--user", "a", "--admin", "http://127.0.0.1:\(created.port)", "--token", "t"], unsetting: Self.unset)
        await created.stop()
        #expect(create.status == 0 && Self.inert(create.output), "\(create.output.debugDescription)")
        #expect(create.output.contains(Self.shown), "\(create.output)")
        let refused = try await ScriptedAdminAPI.start(
            answering: try Self.json(["error": "invalid_ttl", "message": Self.hostile]), status: .badRequest)
        let ttl = try await CommandLineTests.run(
            ["keys", "create", "--user", "a", "--admin", "http://127.0.0.1:\(refused.port)", "--token", "t"], unsetting: Self.unset)
        await refused.stop()
        #expect(ttl.status == 1 && Self.inert(ttl.errors) && ttl.errors.contains(Self.shown), "\(ttl.errors.debugDescription)")
        let negative = try await ScriptedAdminAPI.start(answering: #"{"revoked":-1}"#)
        let revoke = try await CommandLineTests.run(
            ["sessions", "revoke", "--all", "--admin", "http://127.0.0.1:\(negative.port)", "--token", "t"], unsetting: Self.unset)
        await negative.stop()
        #expect(revoke.status == 1 && !revoke.output.contains("revoked -1"), "\(revoke.output) \(revoke.errors)")
    }

    /// A token `Authorization` cannot carry (found by an audit: a secret file's trailing
    /// newline made the CLI send nothing and blame the server, "closed the connection before
    /// answering") is a usage error naming where it came from, the token never shown. So is
    /// an empty `--token`.
    @Test func aTokenThatCannotBeSentIsAUsageError() async throws {
        let api = try await ScriptedAdminAPI.start(answering: #"{"sessions":[]}"#)
        defer { Task { await api.stop() } }
        let url = "http://127.0.0.1:\(api.port)"
        for (token, environment, said) in [
            ("secret-token\n", [:], "--token must be visible ASCII without spaces, as it is sent in an Authorization header (it ends with a line break)"),
            ("secret token", [:], "--token must be visible ASCII without spaces"),
            ("", [:], "--token must not be empty"),
            (nil, ["CLOAKROOM_ADMIN_TOKEN": "secret-token\r\nX-Injected: 1"], "CLOAKROOM_ADMIN_TOKEN must be visible ASCII without spaces"),
        ] as [(String?, [String: String], String)] {
            let run = try await CommandLineTests.run(
                ["sessions", "list", "--admin", url] + (token.map { ["--token", $0] } ?? []), environment: environment,
                unsetting: Self.unset.filter { environment[$0] == nil }, killAfter: 20)
            #expect(run.status == 2, "\(said): \(run.errors)")
            #expect(run.errors.contains(said) && run.errors.contains("Usage: cloakroom sessions list"), "\(run.errors)")
            #expect(!run.errors.contains("secret"), "never shown: \(run.errors)")
        }
        #expect(api.requests.isEmpty)
        // A malformed --admin names its subcommand's usage too, not the top level's.
        let bad = try await CommandLineTests.run(["keys", "list", "--admin", "notaurl", "--token", "t"], unsetting: Self.unset, killAfter: 20)
        #expect(bad.status == 2 && bad.errors.contains("Usage: cloakroom keys list"), "\(bad.errors)")
    }

    /// An admin API that accepts the connection and never answers (wedged, or a port that is
    /// not HTTP) used to hang the command forever. The whole request has a deadline, 30s unless
    /// `CLOAKROOM_ADMIN_TIMEOUT` says otherwise; past it the command exits 1 naming the URL.
    @Test func anAdminAPIThatNeverAnswersTimesOut() async throws {
        let api = try await ScriptedAdminAPI.start(answering: nil)
        defer { Task { await api.stop() } }
        let url = "http://127.0.0.1:\(api.port)"
        let started = ContinuousClock.now
        let run = try await CommandLineTests.run(
            ["sessions", "list", "--admin", url, "--token", "t"], environment: ["CLOAKROOM_ADMIN_TIMEOUT": "500ms"],
            unsetting: Self.unset, killAfter: 20)
        #expect(run.status == 1, "\(run.status): \(run.errors)")
        #expect(run.errors == "admin API at \(url) did not answer within 500ms (CLOAKROOM_ADMIN_TIMEOUT)\n", "\(run.errors)")
        #expect(ContinuousClock.now - started < .seconds(15))

        for value in ["soon", "0s", ""] {
            let refused = try await CommandLineTests.run(
                ["keys", "list", "--admin", url, "--token", "t"], environment: ["CLOAKROOM_ADMIN_TIMEOUT": value],
                unsetting: Self.unset, killAfter: value.isEmpty ? 3 : 20)
            if value.isEmpty {
                // Empty counts as unset, as for the CLI's other variables: the default applies.
                #expect(refused.status == 9, "still waiting for the default 30s when killed: \(refused.errors)")
            } else {
                #expect(refused.status == 2, "\(value): \(refused.errors)")
                #expect(refused.errors.contains("CLOAKROOM_ADMIN_TIMEOUT"), "\(refused.errors)")
            }
        }
    }

    /// `--admin http://host:port/prefix` (the admin API behind a reverse proxy's path) used to
    /// send `/sessions`, the prefix silently dropped. Every request goes under the prefix.
    @Test func anAdminURLsPathIsAPrefixForEveryRequest() async throws {
        let api = try await ScriptedAdminAPI.start(answering: #"{"sessions":[]}"#)
        defer { Task { await api.stop() } }
        for prefix in ["/cloakroom/admin", "/cloakroom/admin/", ""] {
            let run = try await CommandLineTests.run(
                ["sessions", "list", "--user", "a b", "--admin", "http://127.0.0.1:\(api.port)\(prefix)", "--token", "t"],
                unsetting: Self.unset, killAfter: 20)
            #expect(run.status == 0, "\(prefix): \(run.errors)")
            #expect(run.output == "no live sessions\n")
        }
        #expect(api.requests == ["/cloakroom/admin/sessions?user=a%20b", "/cloakroom/admin/sessions?user=a%20b", "/sessions?user=a%20b"])

        // A query or a fragment in --admin cannot be a prefix: a usage error (exit 2), nothing sent.
        // Nor a port out of range (found by an audit: 65536 + N reached port N, token and all).
        for url in [
            "http://127.0.0.1:\(api.port)/admin?x=1", "http://127.0.0.1:\(api.port)/#top", "notaurl",
            "http://127.0.0.1:\(65_536 + api.port)", "http://127.0.0.1:-1", "http://127.0.0.1:0", "http://127.0.0.1:+80",
        ] {
            let run = try await CommandLineTests.run(["sessions", "list", "--admin", url, "--token", "t"], unsetting: Self.unset, killAfter: 20)
            #expect(run.status == 2, "\(url): \(run.output)")
            #expect(run.errors.contains("--admin: admin URL \"\(url)\" must look like http://HOST:PORT or http://HOST:PORT/PATH"), "\(run.errors)")
        }
        // Found by an audit: a user and password in --admin went out as a name to resolve and
        // came back in the error. A usage error, the password never shown.
        let withPassword = try await CommandLineTests.run(
            ["sessions", "list", "--admin", "http://admin:hunter2@127.0.0.1:\(api.port)", "--token", "t"], unsetting: Self.unset, killAfter: 20)
        #expect(withPassword.status == 2, "\(withPassword.errors)")
        #expect(withPassword.errors.contains("admin URL must not carry a user or a password"), "\(withPassword.errors)")
        #expect(!withPassword.errors.contains("hunter2") && !withPassword.output.contains("hunter2"))
        #expect(api.requests.count == 3)
    }
}
