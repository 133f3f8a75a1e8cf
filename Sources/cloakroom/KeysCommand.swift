import ArgumentParser
import CloakroomConfig
import Foundation

/// `cloakroom keys create|list|revoke`: API keys for machine clients, through the admin API
/// (SPEC "Machine clients"). Same `--config/--admin/--token` and exit codes as `sessions`.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys through the admin API.",
        subcommands: [Create.self, List.self, Revoke.self])
}

extension Keys {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key; prints its handle, then the key alone on the last line (shown only this once).")
        @OptionGroup var options: AdminOptions
        @Option(name: .long, help: "The user the key acts for (its sub).") var user: String
        @Option(name: .long, help: "Another attribute, KEY=VALUE (a string); repeatable, a repeated KEY gives a list (--attr roles=a --attr roles=b).")
        var attr: [String] = []
        @Option(name: .long, help: "What the key is for (e.g. deploy).") var name: String?
        @Option(name: .long, help: "Lifetime, e.g. 30d, 12h or 1y (default 90d, at most 1y = 365d).") var ttl: String?
        @Flag(name: .long, help: "Print the admin API's JSON ({\"handle\",\"key\"}).") var json = false

        /// The attributes: `sub` from `--user`, the rest from `--attr`; a key given more than
        /// once is a list of strings in the order given (`roles`, as `allow` rules read it).
        func attributes() throws -> [String: Any] {
            var values: [String: [String]] = [:]
            for pair in attr {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw ValidationError("--attr takes KEY=VALUE, got \"\(pair)\"")
                }
                let key = String(pair[..<equals])
                guard key != "sub" else { throw ValidationError("the key's sub is --user, not --attr sub=...") }
                values[key, default: []].append(String(pair[pair.index(after: equals)...]))
            }
            var attributes: [String: Any] = ["sub": user]
            for (key, list) in values { attributes[key] = list.count == 1 ? list[0] : list }
            return attributes
        }

        func validate() throws {
            guard !user.isEmpty else { throw ValidationError("--user must not be empty") }
            _ = try attributes()
            if let ttl, Duration(lifetime: ttl) == nil {
                throw ValidationError("--ttl takes a duration such as 90d, 12h, 30m or 1y, got \"\(ttl)\"")
            }
        }

        func run() async throws {
            let client = try options.client()
            var request: [String: Any] = ["attributes": try attributes()]
            if let name { request["name"] = name }
            if let ttl { request["ttl"] = ttl }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: request, options: [.sortedKeys]), as: UTF8.self)
            let answer = try await adminCall(client, .POST, "/api-keys", body: body, expect: [201], shape: .createdKey)
            if json {
                print(answer)
                return
            }
            guard let object = AdminAnswer.createdKey.check(answer), let handle = object["handle"] as? String,
                let key = object["key"] as? String
            else { throw ExitCode(1) }  // adminCall has refused such an answer already
            // Escaped like every table cell: what reaches the terminal is never a control sequence
            // of whatever server answered at --admin (found by an audit).
            print("handle: \(terminalSafe(handle, backslashes: true))")
            print(terminalSafe(key, backslashes: true))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live API keys (never the keys themselves).")
        @OptionGroup var options: AdminOptions
        @Option(name: .long, help: "Only this user's keys (their sub).") var user: String?
        @Flag(name: .long, help: "Print the admin API's JSON.") var json = false

        func validate() throws { try requireNonEmpty(user, "--user") }

        func run() async throws {
            let client = try options.client()
            var path = "/api-keys"
            if let user { path += "?user=" + percentEncode(user) }
            let body = try await adminCall(client, .GET, path, expect: [200], shape: .keys)
            print(json ? body : KeyTable.render(body))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke one API key (--key) or every key of a user (--user).")
        @OptionGroup var options: AdminOptions
        // A handle is base64url and may start with '-': the value after --key is taken as is.
        @Option(name: .long, parsing: .unconditional, help: "The key's handle (from `keys list`).") var key: String?
        @Option(name: .long, help: "Revoke every key of this user (their sub); their sessions stay.") var user: String?

        func validate() throws {
            guard (key != nil) != (user != nil) else { throw ValidationError("give exactly one of --key HANDLE, --user SUB") }
            try requireNonEmpty(key, "--key")
            try requireNonEmpty(user, "--user")
        }

        func run() async throws {
            let client = try options.client()
            if let key {
                try await adminCall(client, .DELETE, "/api-keys/" + percentEncode(key), expect: [204], shape: nil)
                print("revoked 1 API key")
                return
            }
            let body = try await adminCall(client, .DELETE, "/users/" + percentEncode(user ?? "") + "/api-keys", expect: [200], shape: .revoked)
            let count = AdminAnswer.revoked.check(body)?["revoked"] as? Int ?? 0
            print("revoked \(count) API key\(count == 1 ? "" : "s")")
        }
    }
}

/// Renders the admin API's key list as an aligned table.
enum KeyTable {
    static func render(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let keys = object["keys"] as? [[String: Any]]
        else { return json }
        if keys.isEmpty { return "no live API keys" }
        var rows = [["HANDLE", "SUB", "NAME", "CREATED", "LAST USED", "EXPIRES", "ATTRIBUTES"]]
        for key in keys {
            let attributes = SessionTable.compact(key["attributes"])
            rows.append([
                key["handle"] as? String ?? "", SessionTable.rawCell(key["sub"]), SessionTable.rawCell(key["name"], absent: "-"),
                key["created_at"] as? String ?? "", key["last_used_at"] as? String ?? "never", key["expires_at"] as? String ?? "",
                attributes,
            ])
        }
        return alignedTable(rows)
    }
}
