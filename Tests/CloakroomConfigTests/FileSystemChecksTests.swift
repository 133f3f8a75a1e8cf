import Foundation
import Testing

@testable import CloakroomConfig

/// The files a configuration names are checked while it loads, in the same pass as every other
/// problem: what `serve` would trip on is what `check` reports.
@Suite("Checking the files a configuration names")
struct FileSystemChecksTests {
    let secret = String(repeating: "s", count: 32)

    func fileStore(_ path: String) -> String {
        minimal(adding: "session:\n  secrets: [\"\(secret)\"]\n  store: { file: { path: \"\(path)\" } }\n")
    }

    func single(_ yaml: String, _ files: FakeFileSystem, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationProblem? {
        let found = problems(in: yaml, files: files, sourceLocation: sourceLocation)
        #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
        return found.first
    }

    // MARK: the file store

    @Test func storeDirectoryMustExist() throws {
        let problem = try #require(single(fileStore("var/sessions.db"), FakeFileSystem()))
        #expect(problem.path == "session.store.file.path")
        #expect(
            problem.message
                == "directory \"var\" does not exist: create it first (serve creates the database file in it, not the directory)")
    }

    @Test func storeDirectoryMustBeWritable() throws {
        let files = FakeFileSystem(["/srv/cloakroom": FileSystemEntry(isDirectory: true, isWritable: false)])
        let problem = try #require(single(fileStore("/srv/cloakroom/sessions.db"), files))
        #expect(problem.path == "session.store.file.path")
        #expect(problem.message.hasPrefix("directory \"/srv/cloakroom\" is not writable by this user"), "\(problem.message)")
    }

    @Test func storeDirectoryMustBeADirectory() throws {
        let problem = try #require(single(fileStore("var/sessions.db"), FakeFileSystem(["var": FakeFileSystem.file])))
        #expect(problem.message == "\"var\" is not a directory")
    }

    @Test func aBareFileNameIsInTheWorkingDirectory() throws {
        #expect(load(fileStore("sessions.db"), files: FakeFileSystem([".": FakeFileSystem.directory])) != nil)
        let problem = try #require(single(fileStore("sessions.db"), FakeFileSystem([".": FileSystemEntry(isDirectory: true, isWritable: false)])))
        #expect(problem.message.hasPrefix("directory \".\" is not writable"), "\(problem.message)")
        #expect(PathRules.directoryPart(of: "/sessions.db") == "/")
        #expect(PathRules.directoryPart(of: "a/b/c.db") == "a/b")
    }

    @Test func anExistingDatabaseOrLockFileMustBeReadableAndWritable() throws {
        let directory = ["var": FakeFileSystem.directory]
        let readOnly = FakeFileSystem(directory.merging(["var/s.db": FileSystemEntry(isDirectory: false, isWritable: false)]) { $1 })
        #expect(single(fileStore("var/s.db"), readOnly)?.message.hasPrefix("file \"var/s.db\" is not readable and writable") == true)
        let lockIsADirectory = FakeFileSystem(directory.merging(["var/s.db.lock": FakeFileSystem.directory]) { $1 })
        #expect(single(fileStore("var/s.db"), lockIsADirectory)?.message == "\"var/s.db.lock\" is a directory, not a file")
        let fine = FakeFileSystem(directory.merging(["var/s.db": FakeFileSystem.file, "var/s.db.lock": FakeFileSystem.file]) { $1 })
        #expect(load(fileStore("var/s.db"), files: fine)?.session.store == .file(FileStoreSettings(path: "var/s.db")))
    }

    // MARK: the users file and TLS files

    @Test func usersFileMustExistAndBeReadable() throws {
        let yaml = minimal(adding: "login: { users_file: users.yaml }\n")
        let missing = try #require(single(yaml, FakeFileSystem()))
        #expect(missing.path == "login.users_file")
        #expect(missing.message == "file \"users.yaml\" does not exist")
        let unreadable = FakeFileSystem(["users.yaml": FileSystemEntry(isDirectory: false, isReadable: false)])
        #expect(
            single(yaml, unreadable)?.message == "file \"users.yaml\" is not readable by this user (check its owner and mode)")
        #expect(single(yaml, FakeFileSystem(["users.yaml": FakeFileSystem.directory]))?.message == "\"users.yaml\" is a directory, not a file")
        #expect(load(yaml, files: FakeFileSystem(["users.yaml": FakeFileSystem.file]))?.login.usersFile == "users.yaml")
    }

    @Test func anUnreadableTLSKeyIsReportedAtItsKeyPath() throws {
        let yaml = """
            listen:
              - address: "127.0.0.1:8443"
                tls: { certificate: certs/server.crt, private_key: certs/server.key }
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { builtin: echo } }

            """
        let files = FakeFileSystem([
            "certs/server.crt": FakeFileSystem.file,
            "certs/server.key": FileSystemEntry(isDirectory: false, isReadable: false),
        ])
        let problem = try #require(single(yaml, files))
        #expect(problem.path == "listen[0].tls.private_key")
        #expect(problem.message == "file \"certs/server.key\" is not readable by this user (check its owner and mode)")
    }

    // MARK: one pass

    @Test func fileProblemsComeInFileOrderWithEveryOtherProblem() throws {
        let yaml = """
            listen:
              - address: "127.0.0.1:8443"
                tls: { certificate: certs/server.crt, private_key: certs/missing.key }
            client:
              header_timout: 10s
            session:
              secrets: ["\(secret)"]
              store: { file: { path: var/sessions.db } }
            login:
              users_file: nobody.yaml
            routes: [{ path: /, upstream: apii }]
            upstreams: { api: { builtin: echo } }

            """
        let found = problems(in: yaml, files: FakeFileSystem(["certs/server.crt": FakeFileSystem.file]))
        #expect(
            found.map(\.path) == [
                "listen[0].tls.private_key", "client.header_timout", "session.store.file.path", "login.users_file",
                "routes[0].upstream",
            ], "\(found)")
    }

    @Test func whatWasReadWithoutAProblemIsKeptForTheServersOwnChecks() throws {
        let yaml = """
            listen:
              - address: "127.0.0.1:8443"
                tls: { certificate: a.crt, private_key: a.key }
              - address: "127.0.0.1:9443"
                tls: { certificate: b.crt, private_key: missing.key }
            login:
              users_file: users.yaml
            routes: [{ path: /, upstream: apii }]
            upstreams: { api: { builtin: echo } }

            """
        let files = FakeFileSystem(["a.crt": FakeFileSystem.file, "a.key": FakeFileSystem.file, "b.crt": FakeFileSystem.file, "users.yaml": FakeFileSystem.file])
        do {
            _ = try ConfigurationLoader.parse(yaml, environment: [:], files: files)
            Issue.record("expected problems")
        } catch {
            #expect(error.problems.map(\.path) == ["listen[1].tls.private_key", "routes[0].upstream"])
            let readable = try #require(error.readable)
            #expect(readable.listeners.map(\.tls) == [TLSSettings(certificatePath: "a.crt", privateKeyPath: "a.key"), nil])
            #expect(readable.login.usersFile == "users.yaml")
        }
    }

    @Test func withoutAFileSystemNothingIsAsked() throws {
        let yaml = minimal(adding: "login: { users_file: /nowhere/users.yaml }\nsession:\n  secrets: [\"\(secret)\"]\n  store: { file: { path: /nowhere/s.db } }\n")
        let configuration = try #require(load(yaml, files: nil))
        #expect(configuration.login.usersFile == "/nowhere/users.yaml")
    }

    // MARK: the real file system

    @Test func theLocalFileSystemSeesRealDirectories() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-fs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(load(fileStore(directory.appendingPathComponent("sessions.db").path)) != nil)
        let missing = directory.appendingPathComponent("not-made/sessions.db").path
        let problem = try #require(problems(in: fileStore(missing)).first)
        #expect(problem.path == "session.store.file.path")
        #expect(problem.message.hasPrefix("directory \"\(directory.path)/not-made\" does not exist"))
        let local = LocalFileSystem()
        #expect(local.entry(at: directory.path) == FileSystemEntry(isDirectory: true, isReadable: true, isWritable: true))
        #expect(local.entry(at: missing) == nil)
    }

    /// A serving process's reload never opens the database its store holds, by any name
    /// (closing the descriptor would drop SQLite's POSIX locks); other files are read as ever.
    @Test func theOpenDatabaseIsNeverReadByAnyName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-fs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("sessions.db").path, link = directory.appendingPathComponent("link.db").path
        let other = directory.appendingPathComponent("other.db").path
        try "SQLite format 3\0".write(toFile: database, atomically: true, encoding: .utf8)
        try "not a database".write(toFile: other, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: database)
        let serving = LocalFileSystem(openDatabase: database)
        #expect(LocalFileSystem().leadingBytes(of: database, count: 6) == Array("SQLite".utf8))
        #expect(serving.leadingBytes(of: database, count: 6) == nil)
        #expect(serving.leadingBytes(of: link, count: 6) == nil, "the same file through a link")
        #expect(serving.leadingBytes(of: other, count: 3) == Array("not".utf8))
        #expect(problems(in: fileStore(other), files: serving).map(\.path) == ["session.store.file.path"], "another file is still checked")
    }

    /// Found by a black-box audit: a FIFO named as a TLS file or the users file hung `check`
    /// and `serve`, and `/dev/zero` as the users file was read until memory ran out.
    @Test func aFIFOOrADeviceIsNotAFileServeCanRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-fs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(LocalFileSystem().entry(at: fifo)?.isSpecial == true)
        #expect(LocalFileSystem().entry(at: directory.path)?.isSpecial == false)
        for path in [fifo, "/dev/zero"] {
            let found = problems(in: minimal(adding: "login: { users_file: \"\(path)\" }\n"))
            #expect(found.map(\.path) == ["login.users_file"], "\(found)")
            #expect(found.first?.message == "\"\(path)\" is not a regular file (a FIFO, device or socket)")
        }
        let store = problems(in: fileStore(fifo))
        #expect(store.map(\.path) == ["session.store.file.path"] && store.first?.message.contains("not a regular file") == true, "\(store)")
    }
}

@Suite("Paths in messages")
struct PathQuotingTests {
    @Test func pathsAreQuotedInFull() {
        let long = "/" + String(repeating: "directory/", count: 12) + "sessions.db"
        #expect(PathRules.quoted(long) == "\"\(long)\"")
        #expect(PathRules.quoted(#"a"b\c"#) == #""a\"b\\c""#)
    }
}
