import CloakroomLogin
import CloakroomSessions
import Foundation
import Synchronization
import Testing

@Suite struct UsersFileTests {
    @Test func readsUsersAndTheirAttributes() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let alice = cheapHash("alice-pw"), bob = cheapHash("bob-pw")
            try write("""
                users:
                  alice:
                    password: "\(alice.encoded)"
                    email: alice@example.com
                    roles: [reader, writer]
                    team: platform
                    groups:
                      - ops
                      - oncall
                    nickname: ~
                  "bob smith":
                    password: "\(bob.encoded)"
                """, to: path)
            let users = try UsersFile(path: path)
            let user = try #require(users.user(named: "alice"))
            #expect(user.name == "alice")
            #expect(user.passwordHash == alice)
            #expect(user.attributes == [
                "sub": "alice", "email": "alice@example.com", "roles": ["reader", "writer"],
                "team": "platform", "groups": ["ops", "oncall"],
            ])
            #expect(users.user(named: "bob smith")?.attributes == ["sub": "bob smith"])
            #expect(users.user(named: "Alice") == nil)
            #expect(users.user(named: "carol") == nil)
            #expect(users.lastError == nil)
        }
    }

    @Test func emptyFileHasNoUsers() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try write("", to: path)
            #expect(try UsersFile(path: path).user(named: "alice") == nil)
            try write("users:\n", to: path)
            #expect(try UsersFile(path: path).user(named: "alice") == nil)
        }
    }

    /// Found by a black-box audit: a FIFO as the users file hung `check` and `serve`, and
    /// `/dev/zero` was read until memory ran out.
    @Test func aFIFOOrADeviceIsRefusedNotRead() throws {
        try withTemporaryDirectory { directory in
            let fifo = directory + "/users.fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            for path in [fifo, "/dev/zero"] {
                let error = try #require(throws: UsersFileError.self) { try UsersFile(path: path) }
                #expect(error.description.contains("not a regular file"), "\(error)")
            }
        }
    }

    @Test func missingFileIsAnErrorNamingIt() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/absent.yaml"
            let error = try #require(throws: UsersFileError.self) { try UsersFile(path: path) }
            #expect(error.path == path)
            #expect(error.description.contains(path))
        }
    }

    @Test(arguments: [
        ("users:\n  alice:\n    email: a@example.com\n", "users.alice.password", "required key is missing"),
        ("users:\n  alice:\n    password: hunter2\n", "users.alice.password", "expected a password hash"),
        ("users:\n  alice:\n    password: \"%HASH%\"\n    roles: admin\n", "users.alice.roles", "expected a list of strings"),
        ("users:\n  alice:\n    password: \"%HASH%\"\n    sub: root\n", "users.alice.sub", "not allowed"),
        ("users:\n  alice:\n    password: \"%HASH%\"\n    prefs: {a: b}\n", "users.alice.prefs", "expected a string or a list"),
        ("users:\n  alice:\n    password: \"%HASH%\"\n    email: [a, b]\n", "users.alice.email", "expected a string"),
        ("users:\n  alice: yes\n", "users.alice", "expected a mapping"),
        ("users: [alice]\n", "users", "expected a mapping of user names"),
        ("user:\n  alice: {}\n", "user", "unknown key"),
        ("users:\n  \"\":\n    password: \"%HASH%\"\n", "users[\"\"]", "cannot be empty"),
        ("users:\n  alice:\n    password: \"%HASH%\"\n  alice:\n    password: \"%HASH%\"\n", "", "not valid YAML"),
        ("users:\n  alice: [\n", "", "not valid YAML"),
    ])
    func invalidFilesNameTheKeyPath(_ text: String, _ keyPath: String, _ message: String) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try write(text.replacing("%HASH%", with: cheapHash("pw").encoded), to: path)
            let error = try #require(throws: UsersFileError.self) { try UsersFile(path: path) }
            #expect(error.keyPath == keyPath)
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.contains(path))
        }
    }

    /// `cloakroom check` reports every problem of the file in one run: a misspelt key (which
    /// used to become an attribute), a number where a string belongs, and each user's own.
    @Test func everyProblemIsReportedAtOnce() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let hash = cheapHash("pw").encoded
            try write("""
                users:
                  alice:
                    pasword: "\(hash)"
                    email: 5
                  bob:
                    password: "\(hash)"
                    roles: admin
                    Email: b@example.com
                  carol:
                    password: "\(hash)"
                    email: "5"
                    team: [a, true]
                  dave:
                    password: "\(hash)"
                    team: platform
                    role_level: "3"
                    role: reader
                    mail: d@example.com
                extra: 1

                """, to: path)
            let problems = UsersFile.problems(at: path)
            #expect(
                problems.map(\.keyPath) == [
                    "users.alice.pasword", "users.alice.password", "users.alice.email", "users.bob.roles", "users.bob.Email",
                    "users.carol.team", "extra",
                ], "\(problems)")
            #expect(problems[0].message.contains("unknown key (did you mean \"password\"?)"), "\(problems[0])")
            #expect(problems[2].message.contains("expected a string, got a number"), "\(problems[2])")
            #expect(problems.allSatisfy { $0.description.contains(path) && $0.line != nil }, "\(problems)")
            #expect(!problems.contains { $0.description.contains(hash) }, "no hash in a message")
            // The runtime still refuses the file, with its first problem.
            let error = try #require(throws: UsersFileError.self) { try UsersFile(path: path) }
            #expect(error == problems.first)
            try write("users:\n  dave:\n    password: \"\(hash)\"\n    team: platform\n    email: \"5\"\n", to: path)
            #expect(UsersFile.problems(at: path).isEmpty)
            #expect(try UsersFile(path: path).user(named: "dave")?.attributes["email"] == .string("5"))
        }
    }

    @Test func reloadsAfterUpsertOnceTheCheckIntervalPasses() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try write("users:\n  alice:\n    password: \"\(cheapHash("alice-pw").encoded)\"\n", to: path)
            let clock = ManualWallClock()
            let users = try UsersFile(path: path, clock: clock)
            #expect(users.user(named: "bob") == nil)

            try UsersFile.upsert(path: path, name: "bob", password: "bob-pw", email: nil, roles: ["admin"])
            #expect(users.user(named: "bob") == nil, "looked at the file before a second had passed")
            clock.advance(by: .seconds(1))
            let bob = try #require(users.user(named: "bob"))
            #expect(bob.passwordHash.verify("bob-pw"))
            #expect(bob.attributes["roles"] == ["admin"])
            #expect(users.user(named: "alice") != nil)
            #expect(users.lastError == nil)
        }
    }

    @Test func noticesAnEditInPlace() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let hash = cheapHash("pw").encoded
            try write("users:\n  alice:\n    password: \"\(hash)\"\n", to: path)
            let clock = ManualWallClock()
            let users = try UsersFile(path: path, clock: clock)
            try write("users:\n  alice:\n    password: \"\(hash)\"\n    email: new@example.com\n", to: path)
            clock.advance(by: .seconds(2))
            #expect(users.user(named: "alice")?.attributes["email"] == "new@example.com")
        }
    }

    @Test func invalidRewriteKeepsTheLastGoodCopy() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let hash = cheapHash("pw").encoded
            try write("users:\n  alice:\n    password: \"\(hash)\"\n", to: path)
            let clock = ManualWallClock()
            let reports = Mutex<[String]>([])
            let users = try UsersFile(path: path, clock: clock) { result in
                reports.withLock { $0.append((try? result.get()).map { "ok \($0)" } ?? "refused") }
            }

            try write("users:\n  alice:\n    password: oops\n  bob:\n    password: \"\(hash)\"\n", to: path)
            clock.advance(by: .seconds(1))
            #expect(users.user(named: "alice")?.passwordHash.encoded == hash)
            #expect(users.user(named: "bob") == nil)
            let error = try #require(users.lastError)
            #expect(error.contains("users.alice.password") && error.contains(path))

            try FileManager.default.removeItem(atPath: path)
            clock.advance(by: .seconds(1))
            #expect(users.user(named: "alice") != nil)
            #expect(users.lastError?.contains("no such file") == true)

            try write("users:\n  bob:\n    password: \"\(hash)\"\n", to: path)
            clock.advance(by: .seconds(1))
            #expect(users.user(named: "bob") != nil)
            #expect(users.user(named: "alice") == nil)
            #expect(users.lastError == nil)
            #expect(reports.withLock { $0 } == ["refused", "refused", "ok 1"], "each re-read is reported, for the log")
        }
    }
}
