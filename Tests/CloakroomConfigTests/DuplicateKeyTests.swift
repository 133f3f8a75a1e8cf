import Testing

@testable import CloakroomConfig

/// A key given twice in one mapping is a problem at its key path, with both lines, and the
/// file's other problems are reported with it (Yams alone stops at the first duplicate with a
/// line and column only).
@Suite struct DuplicateKeyTests {
    @Test func aDuplicateIsReportedAtItsKeyPathWithBothLines() {
        // minimalYAML is 8 lines; `client:` is line 9.
        let found = problems(in: minimal(adding: "client:\n  idle_timeout: 1s\n  idle_timeout: 2s\n"))
        #expect(found == [ConfigurationProblem(path: "client.idle_timeout", message: "duplicate key at lines 10 and 11: give it once")])
    }

    @Test func theFilesOtherProblemsAreReportedWithIt() {
        let yaml = """
            listen:
              - address: "127.0.0.1:8080"
            routes:
              - path: /
                path: /api/
                upstream: api
                auth: bogus
            upstreams:
              api: { targets: ["http://127.0.0.1:9000"], targets: ["http://127.0.0.1:9001"] }
            sesion: {}

            """
        let found = problems(in: yaml)
        #expect(found.map(\.path) == ["routes[0].path", "routes[0].auth", "upstreams.api.targets", "sesion"], "\(found)")
        #expect(found.first?.message == "duplicate key at lines 4 and 5: give it once")
        #expect(found[2].message == "duplicate key twice on line 9: give it once")
    }

    @Test func aKeyGivenThreeTimesIsReportedForEachRepeat() {
        let found = problems(in: minimal(adding: "client:\n  idle_timeout: 1s\n  idle_timeout: 2s\n  \"idle_timeout\": 3s\n"))
        #expect(found.map(\.message) == ["duplicate key at lines 10 and 11: give it once", "duplicate key at lines 11 and 12: give it once"])
        #expect(found.allSatisfy { $0.path == "client.idle_timeout" })
    }

    @Test func quotedAndTopLevelDuplicatesAreFound() {
        let found = problems(in: minimalYAML + "'session': {}\nsession: { idle_timeout: 5m }\n")
        #expect(found == [ConfigurationProblem(path: "session", message: "duplicate key at lines 9 and 10: give it once")])
    }

    @Test func aDuplicateUnderAnUnknownKeyIsStillReported() {
        let found = problems(in: minimal(adding: "extra: { a: 1, a: 2 }\n"))
        #expect(found.map(\.description).sorted() == ["duplicate key \"a\"", "extra: unknown key"], "\(found)")
    }

    @Test func aKeySpelledWithEscapesStaysOneYAMLProblem() {
        // Yams's position is the first occurrence, `"idle\u005ftimeout"`, which does not read as
        // the key there: the file is refused with Yams's own message, as before.
        let found = problems(in: minimal(adding: "client:\n  \"idle\\u005ftimeout\": 1s\n  idle_timeout: 2s\n"))
        #expect(found.count == 1)
        #expect(found.first?.path == "")
        #expect(found.first?.message.contains("duplicate key \"idle_timeout\"") == true, "\(found)")
    }
}
