import CloakroomLogin
import Foundation
import Synchronization
import Testing

@Suite struct UsersFileUpsertTests {
    @Test func createsAFileWithMode0600() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try UsersFile.upsert(path: path, name: "alice", password: "pw", email: "alice@example.com", roles: ["reader"])
            #expect(try permissions(path) == 0o600)
            let alice = try #require(try UsersFile(path: path).user(named: "alice"))
            #expect(alice.passwordHash.parameters == .default)
            #expect(alice.passwordHash.verify("pw"))
            #expect(alice.attributes == ["sub": "alice", "email": "alice@example.com", "roles": ["reader"]])
        }
    }

    @Test func keepsOtherUsersAndTheFileMode() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let bobHash = cheapHash("bob-pw").encoded
            try write("""
                users:
                  bob:
                    password: "\(bobHash)"
                    email: bob@example.com
                    roles: [ops]
                    team: "123"
                  "true":
                    password: "\(bobHash)"
                """, to: path)
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)

            try UsersFile.upsert(path: path, name: "alice", password: "alice-pw", email: nil, roles: [])
            let users = try UsersFile(path: path)
            let bob = try #require(users.user(named: "bob"))
            #expect(bob.passwordHash.encoded == bobHash)
            #expect(bob.attributes == ["sub": "bob", "email": "bob@example.com", "roles": ["ops"], "team": "123"])
            #expect(users.user(named: "true") != nil)
            #expect(users.user(named: "alice")?.passwordHash.verify("alice-pw") == true)
            #expect(try permissions(path) == 0o640)
            // Names and values that plain YAML would read as other types stay quoted.
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("\"true\":") && text.contains("\"123\""))
        }
    }

    /// A users file mounted from a Kubernetes secret is a chain of symlinks (`users.yaml →
    /// ..data/users.yaml`, `..data → ..2026_11_21…`), and one an operator keeps elsewhere is
    /// often a symlink too. The rename used to land on the link itself: the link became a
    /// regular file (root's, 0600 whatever it was) and the file it pointed to kept the old
    /// users. The file the link resolves to is replaced instead, keeping its mode and, when
    /// running as root, its owner and group.
    @Test func replacesTheFileASymlinkNamesKeepingItsOwnerGroupAndMode() throws {
        try withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory + "/..2026_11_21", withIntermediateDirectories: false)
            try FileManager.default.createSymbolicLink(atPath: directory + "/..data", withDestinationPath: "..2026_11_21")
            let target = directory + "/..2026_11_21/users.yaml"
            try write("users:\n  bob:\n    password: \"\(cheapHash("bob-pw").encoded)\"\n", to: target)
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: target)
            let asRoot = geteuid() == 0
            if asRoot { #expect(chown(target, 65534, 65534) == 0) }
            let link = directory + "/users.yaml"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "..data/users.yaml")

            try UsersFile.upsert(path: link, name: "alice", password: "alice-pw", email: nil, roles: [])

            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "..data/users.yaml", "still the link")
            let users = try UsersFile(path: target)
            #expect(users.user(named: "alice")?.passwordHash.verify("alice-pw") == true)
            #expect(users.user(named: "bob") != nil)
            #expect(try permissions(target) == 0o640)
            var info = stat()
            #expect(stat(target, &info) == 0)
            if asRoot { #expect(info.st_uid == 65534 && info.st_gid == 65534, "owner \(info.st_uid):\(info.st_gid)") }
            #expect(try listing(directory + "/..2026_11_21") == ["users.yaml"], "no temporary file left")
            #expect(try listing(directory) == ["..2026_11_21", "..data", "users.yaml"])

            // A link to a file not made yet: it is made where the link leads, 0600.
            let dangling = directory + "/new.yaml"
            try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "..data/new.yaml")
            try UsersFile.upsert(path: dangling, name: "carol", password: "carol-pw", email: nil, roles: [])
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dangling) == "..data/new.yaml")
            #expect(try UsersFile(path: directory + "/..2026_11_21/new.yaml").user(named: "carol") != nil)
            #expect(try permissions(directory + "/..2026_11_21/new.yaml") == 0o600)
        }
    }

    @Test func resettingAPasswordKeepsUnmentionedFields() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try write("""
                users:
                  alice:
                    password: "\(cheapHash("old").encoded)"
                    email: alice@example.com
                    roles: [admin]
                    team: platform
                """, to: path)
            try UsersFile.upsert(path: path, name: "alice", password: "new", email: nil, roles: [])
            var alice = try #require(try UsersFile(path: path).user(named: "alice"))
            #expect(alice.passwordHash.verify("new") && !alice.passwordHash.verify("old"))
            #expect(alice.attributes == ["sub": "alice", "email": "alice@example.com", "roles": ["admin"], "team": "platform"])

            try UsersFile.upsert(path: path, name: "alice", password: "newer", email: "", roles: ["reader"])
            alice = try #require(try UsersFile(path: path).user(named: "alice"))
            #expect(alice.attributes == ["sub": "alice", "roles": ["reader"], "team": "platform"])
        }
    }

    @Test func replacesAtomicallyLeavingNoTemporaryFiles() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try UsersFile.upsert(path: path, name: "alice", password: "a", email: nil, roles: [])
            let before = try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
            try UsersFile.upsert(path: path, name: "bob", password: "b", email: nil, roles: [])
            let after = try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
            #expect(before != after, "rewritten in place rather than renamed over")
            #expect(try listing(directory) == ["users.yaml"])
        }
    }

    @Test func leavesAnInvalidFileUntouched() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            let original = "users:\n  alice:\n    password: not-a-hash\n"
            try write(original, to: path)
            let error = try #require(throws: UsersFileError.self) {
                try UsersFile.upsert(path: path, name: "bob", password: "b", email: nil, roles: [])
            }
            #expect(error.keyPath == "users.alice.password")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
            #expect(try listing(directory) == ["users.yaml"])
        }
    }

    @Test func refusesBadNamesAndEmptyPasswords() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            #expect(throws: UsersFileError.self) {
                try UsersFile.upsert(path: path, name: "a\nb", password: "pw", email: nil, roles: [])
            }
            #expect(throws: PasswordHashError.emptyPassword) {
                try UsersFile.upsert(path: path, name: "alice", password: "", email: nil, roles: [])
            }
            let names = try listing(directory)
            #expect(names.isEmpty)
        }
    }

    /// Found by a black-box audit: six `users add` at once all said "saved", and the file kept
    /// three of the six. The read-modify-write now runs under a lock on the directory.
    @Test func concurrentUpsertsLoseNoUser() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/users.yaml"
            try UsersFile.upsert(path: path, name: "seed", password: "seed-pw", email: nil, roles: [])
            let names = (1...6).map { "user\($0)" }
            let failures = DispatchGroup()
            let errors = ErrorList()
            for name in names {
                failures.enter()
                Thread.detachNewThread {
                    do { try UsersFile.upsert(path: path, name: name, password: "\(name)-pw", email: nil, roles: []) } catch {
                        errors.append("\(error)")
                    }
                    failures.leave()
                }
            }
            failures.wait()
            #expect(errors.all.isEmpty, "\(errors.all)")
            let users = try UsersFile(path: path)
            for name in names + ["seed"] {
                #expect(users.user(named: name)?.passwordHash.verify(name == "seed" ? "seed-pw" : "\(name)-pw") == true, "\(name) was lost")
            }
            #expect(try listing(directory) == ["users.yaml"], "no temporary or lock file left")
        }
    }
}

private final class ErrorList: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ error: String) { list.withLock { $0.append(error) } }
    var all: [String] { list.withLock { $0 } }
}
