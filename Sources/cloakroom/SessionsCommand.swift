import ArgumentParser
import CloakroomConfig
import CloakroomServer
import Foundation
import NIOHTTP1

/// `cloakroom sessions list|revoke`: central logout through the admin API.
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and end sessions through the admin API.",
        subcommands: [List.self, Revoke.self])
}

/// How the CLI reaches the admin API: `--admin` and `--token`, else from the config
/// (`admin.listen`, `admin.token`) and `$CLOAKROOM_ADMIN_TOKEN`. Only the keys still needed are
/// read from the config (none with `--admin` and a token), so an unset `${VAR}` elsewhere in it,
/// a secret only `serve` needs, does not stop the command.
struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: "Path to proxy.yaml (default: $CLOAKROOM_CONFIG, else ./proxy.yaml).", completion: .file(extensions: ["yaml", "yml"]))
    var config: String?
    @Option(name: .long, help: "Admin API base URL, http://HOST:PORT[/PATH] (default: http:// + the config's admin.listen).")
    var admin: String?
    @Option(name: .long, help: "Bearer token (default: $CLOAKROOM_ADMIN_TOKEN, else the config's admin.token).")
    var token: String?

    /// Usage errors (exit 2, with the subcommand's usage): a malformed `--admin`, a token
    /// `Authorization` cannot carry (from `--token` or `$CLOAKROOM_ADMIN_TOKEN`; a secret file's
    /// trailing newline is the common case), a bad `CLOAKROOM_ADMIN_TIMEOUT`.
    func validate() throws {
        _ = try Self.timeout()
        if let admin {
            do {
                _ = try AdminClient(url: admin, token: "")
            } catch {
                throw ValidationError("--admin: \(error)")
            }
        }
        if let token {
            try Self.checkToken(token, from: "--token")
        } else if let token = ProcessEnvironment.setting("CLOAKROOM_ADMIN_TOKEN") {
            try Self.checkToken(token, from: "CLOAKROOM_ADMIN_TOKEN")
        }
    }

    /// The token goes in `Authorization: Bearer …`: visible ASCII, no spaces, as `admin.token`
    /// must be. Never shown.
    static func checkToken(_ token: String, from source: String) throws {
        guard !token.isEmpty else { throw ValidationError("\(source) must not be empty") }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            let hint = token.last?.isNewline == true ? " (it ends with a line break)" : ""
            throw ValidationError("\(source) must be visible ASCII without spaces, as it is sent in an Authorization header\(hint)")
        }
    }

    /// `CLOAKROOM_ADMIN_TIMEOUT`: how long a request may take, connecting included (a duration
    /// as in proxy.yaml, default 30s); a value that is not a positive duration is a usage error.
    static func timeout() throws -> Duration {
        guard let text = ProcessEnvironment.setting("CLOAKROOM_ADMIN_TIMEOUT") else { return AdminClient.defaultTimeout }
        guard let limit = Duration(configString: text), limit > .zero else {
            throw ValidationError("CLOAKROOM_ADMIN_TIMEOUT must be a duration such as 30s, 2m or 500ms, got \"\(text)\"")
        }
        return limit
    }

    func client() throws -> AdminClient {
        let environment = ProcessEnvironment.variables
        var url = admin
        var secret = token ?? ProcessEnvironment.setting("CLOAKROOM_ADMIN_TOKEN")
        if url == nil || secret == nil {
            let path = config ?? ProcessEnvironment.setting("CLOAKROOM_CONFIG") ?? "proxy.yaml"
            let access: AdminAccess?
            do {
                access = try ConfigurationLoader.adminAccess(
                    contentsOf: path, environment: environment, listen: url == nil, token: secret == nil)
            } catch {
                printError("\(path): invalid configuration")
                for problem in error.problems { printError("  \(problem)") }
                throw ExitCode(1)
            }
            guard let access else {
                printError("\(path): no admin section, so no admin API to talk to (or pass --admin and --token)")
                throw ExitCode(1)
            }
            url = url ?? access.listen.map { "http://\($0)" }
            secret = secret ?? access.token
        }
        do {
            // A malformed `--admin` was a usage error already (``validate()``): a URL refused
            // here comes from the config's `admin.listen`.
            return try AdminClient(url: url!, token: secret!, timeout: Self.timeout())
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

/// Sends one admin request. An answer with another status than `expected` is explained and
/// exits 1, from the admin API's own error JSON (``AdminAnswer/failure(status:body:)``); and
/// so is a 2xx answer without the JSON `shape` the admin API gives it (`nil`: an empty body, as
/// for a 204). Any other answer is another server's (a public listener, a backend at the
/// wrong port): "answered N without the admin API's JSON", exit 1, and its body is never
/// printed, since a server that echoes the request would print the token.
@discardableResult
func adminCall(
    _ client: AdminClient, _ method: HTTPMethod, _ path: String, body: String? = nil, expect expected: Set<Int>,
    shape: AdminAnswer?
) async throws -> String {
    let response: AdminClient.Response
    do {
        response = try await client.send(method, path, body: body)
    } catch {
        printError("\(error)")
        throw ExitCode(1)
    }
    guard expected.contains(response.status) else {
        guard let failure = AdminAnswer.failure(status: response.status, body: response.body) else {
            printError(AdminAnswer.unrecognized(from: client.base, status: response.status))
            throw ExitCode(1)
        }
        switch response.status {
        case 400:
            // The admin API says what to fix in `message` (e.g. a ttl above a year).
            printError("the admin API refused the request (400): \(terminalSafe(failure.message ?? failure.code, backslashes: true))")
        case 401: printError("the admin API refused the token (401): check --token, $CLOAKROOM_ADMIN_TOKEN or admin.token")
        case 404:
            // Named with the URL: a wrong `--admin` path answers 404 for a list too (found by an audit).
            let url = client.base + (path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path)
            printError("not found (404): \(method.rawValue) \(url)")
        case 503: printError("the admin API cannot reach its session store (503)")
        default: printError("the admin API answered \(response.status) (\(failure.code))")
        }
        throw ExitCode(1)
    }
    if let shape, shape.check(response.body) == nil {
        printError(shape.refusal(from: client.base, status: response.status))
        throw ExitCode(1)
    }
    if shape == nil, !response.body.isEmpty {
        printError(AdminAnswer.unrecognized(from: client.base, status: response.status))
        throw ExitCode(1)
    }
    return response.body
}

/// Refuses an empty name (`--session ""`): it would make a path like `/sessions/`, which must
/// never be taken for the route without the name.
func requireNonEmpty(_ value: String?, _ option: String) throws {
    if let value, value.isEmpty { throw ValidationError("\(option) must not be empty") }
}

extension Sessions {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live sessions.")
        @OptionGroup var options: AdminOptions
        @Option(name: .long, help: "Only this user's sessions (their sub).") var user: String?
        @Flag(name: .long, help: "Print the admin API's JSON.") var json = false

        func validate() throws { try requireNonEmpty(user, "--user") }

        func run() async throws {
            let client = try options.client()
            var path = "/sessions"
            if let user { path += "?user=" + percentEncode(user) }
            let body = try await adminCall(client, .GET, path, expect: [200], shape: .sessions)
            if json {
                print(body)
                return
            }
            print(SessionTable.render(body))
        }
    }

    struct Revoke: AsyncParsableCommand {
        /// `revoked 1 session`, `revoked 2 sessions and 1 API key`.
        static func revoked(sessions: Int, keys: Int = 0) -> String {
            let counted = "revoked \(sessions) session\(sessions == 1 ? "" : "s")"
            return keys == 0 ? counted : counted + " and \(keys) API key\(keys == 1 ? "" : "s")"
        }

        static let configuration = CommandConfiguration(
            abstract: "End sessions: one (--session), a user's (--user) or everyone's (--all).")
        @OptionGroup var options: AdminOptions
        // A handle is base64url and may start with '-': the value after --session is taken as is.
        @Option(name: .long, parsing: .unconditional, help: "The session's handle (from `sessions list`).") var session: String?
        @Option(name: .long, help: "End every session of this user (their sub).") var user: String?
        @Flag(name: .long, help: "End every session.") var all = false

        func validate() throws {
            guard [session != nil, user != nil, all].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --session HANDLE, --user SUB, --all")
            }
            try requireNonEmpty(session, "--session")
            try requireNonEmpty(user, "--user")
        }

        func run() async throws {
            let client = try options.client()
            if let session {
                try await adminCall(client, .DELETE, "/sessions/" + percentEncode(session), expect: [204], shape: nil)
                print("revoked 1 session")
                return
            }
            guard let user else {
                let body = try await adminCall(client, .DELETE, "/sessions", expect: [200], shape: .revoked)
                return print(Self.revoked(sessions: AdminAnswer.revoked.check(body)?["revoked"] as? Int ?? 0))
            }
            // Logging a user out everywhere ends their API keys too. `DELETE /users/{sub}/sessions`
            // does both and counts them together, so the keys go first, on their own, to be
            // counted apart (an audit found "revoked 3 sessions" for one session and two keys).
            let keysBody = try await adminCall(client, .DELETE, "/users/" + percentEncode(user) + "/api-keys", expect: [200], shape: .revoked)
            let keys = AdminAnswer.revoked.check(keysBody)?["revoked"] as? Int ?? 0
            let body = try await adminCall(client, .DELETE, "/users/" + percentEncode(user) + "/sessions", expect: [200], shape: .revoked)
            let rest = AdminAnswer.revoked.check(body)?["revoked"] as? Int ?? 0
            print(Self.revoked(sessions: rest, keys: keys))
        }
    }
}

func percentEncode(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?&=+"))) ?? text
}

/// Renders the admin API's session list as an aligned table.
enum SessionTable {
    static func render(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let sessions = object["sessions"] as? [[String: Any]]
        else { return json }
        if sessions.isEmpty { return "no live sessions" }
        var rows = [["HANDLE", "SUB", "CLIENT", "CREATED", "LAST SEEN", "EXPIRES", "ATTRIBUTES", "USER AGENT"]]
        for session in sessions {
            let attributes = compact(session["attributes"])
            let client = session["client"] as? String ?? ""
            rows.append([
                session["handle"] as? String ?? "", rawCell(session["sub"]), client.isEmpty ? "-" : client,
                session["created_at"] as? String ?? "", session["last_seen_at"] as? String ?? "", session["expires_at"] as? String ?? "",
                attributes, rawCell(session["user_agent"]),
            ])
        }
        return alignedTable(rows)
    }

    /// A cell of text a client, a backend or an operator wrote (a sub, a User-Agent, a key's
    /// name), escaped with its backslashes (``terminalSafe(_:backslashes:)``).
    static func rawCell(_ value: Any?, absent: String = "") -> String {
        (value as? String).map { terminalSafe($0, backslashes: true) } ?? absent
    }

    /// `attributes` as compact JSON with sorted keys, for a table cell.
    static func compact(_ attributes: Any?) -> String {
        (attributes as? [String: Any]).flatMap {
            try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes])
        }.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Rows as columns two spaces apart, the last column unpadded (a header row first). Every cell
/// is shown with ``terminalSafe(_:backslashes:)`` (raw text cells come escaped with their
/// backslashes already: ``SessionTable/rawCell(_:absent:)``).
func alignedTable(_ rows: [[String]]) -> String {
    let rows = rows.map { $0.map { terminalSafe($0) } }
    let widths = (0..<rows[0].count - 1).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index < widths.count ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) : cell
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

/// `text` as a table cell shows it: ``TerminalText/safe(_:backslashes:)``, as the ATTRIBUTES
/// column, which is JSON, shows such characters. A sub, a User-Agent or a key's name is
/// whatever a client, a backend or an operator sent. With `backslashes`, for a cell of raw
/// text, a backslash is written `\\`, as JSON does: otherwise a sub holding the text `\u001b`
/// would read exactly like one holding ESC (found by an audit), and `CORP\alice` shows as
/// `CORP\\alice`, as the ATTRIBUTES column (JSON, whose backslashes are its own escapes) has
/// always shown it.
func terminalSafe(_ text: String, backslashes: Bool = false) -> String {
    TerminalText.safe(text, backslashes: backslashes)
}
