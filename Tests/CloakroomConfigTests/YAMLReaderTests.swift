import Testing

@testable import CloakroomConfig

@Suite("YAMLReader")
struct YAMLReaderTests {
    @Test func unknownKeysAtEveryDepthAreAllReported() {
        let yaml = """
            listen:
              - address: "127.0.0.1:8080"
                tsl: {}
            client:
              header_timout: 10s
            session:
              cookie:
                nmae: sid
              store:
                memory: { max_session: 5 }
            routes:
              - path: /
                upstream: api
                authh: none
            upstreams:
              api:
                target: ["http://127.0.0.1:9000"]
            colour: blue

            """
        let found = problems(in: yaml)
        #expect(
            found.map(\.path) == [
                "listen[0].tsl", "client.header_timout", "session.cookie.nmae", "session.store.memory.max_session",
                "routes[0].authh", "upstreams.api.target", "colour",
            ])
        #expect(found.allSatisfy { $0.message.hasPrefix("unknown key") })
    }

    @Test(arguments: [
        ("client:\n  header_timout: 10s\n", "client.header_timout", "unknown key (did you mean \"header_timeout\"?)"),
        ("sesion: {}\n", "sesion", "unknown key (did you mean \"session\"?)"),
        ("client:\n  zzz: 1\n", "client.zzz", "unknown key"),
    ])
    func unknownKeysSuggestTheClosestKnownKey(section: String, path: String, message: String) {
        expectSingleProblem(minimal(adding: section), at: path, message, exact: true)
    }

    @Test func wrongShapesAreNamed() {
        expectSingleProblem(
            minimal(adding: "client: [1, 2]\n"), at: "client", "expected a mapping, got a list", exact: true)
        expectSingleProblem(
            minimal(adding: "session: { secrets: { a: b } }\n"), at: "session.secrets",
            "expected a list, got a mapping", exact: true)
        expectSingleProblem(
            minimal(adding: "login: { path: { a: b } }\n"), at: "login.path",
            "expected a path starting \"/\", got a mapping", exact: true)
    }

    @Test func complexKeysAreRejected() {
        expectSingleProblem(minimal(adding: "client:\n  ? [a, b]\n  : 1\n"), at: "client", "keys must be plain strings")
    }

    @Test func quotedNullIsAString() throws {
        let configuration = try #require(
            load(minimal(adding: "login: { users_file: \"null\" }\n"), files: FakeFileSystem(["null": FakeFileSystem.file])))
        #expect(configuration.login.usersFile == "null")
    }

    @Test func integersMayUseUnderscores() throws {
        let configuration = try #require(
            load(minimal(adding: "session: { store: { memory: { max_sessions: 1_000 } } }\n")))
        #expect(configuration.session.store == .memory(MemoryStoreSettings(maxSessions: 1000)))
    }

    @Test func editDistance() {
        #expect("header_timout".editDistance(to: "header_timeout") == 1)
        #expect("".editDistance(to: "abc") == 3)
        #expect("kitten".editDistance(to: "sitting") == 3)
    }
}
