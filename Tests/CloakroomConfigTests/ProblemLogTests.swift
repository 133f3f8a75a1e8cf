import Testing

@testable import CloakroomConfig

@Suite("ProblemLog")
struct ProblemLogTests {
    @Test func problemsAreOrderedByPositionNotByDiscovery() {
        var log = ProblemLog()
        log.note((1, 1), for: .root)
        log.note((1, 1), for: ConfigPath("a"))
        log.note((2, 1), for: ConfigPath("b"))
        log.note((3, 3), for: ConfigPath("b", "c"))
        log.report("third", at: ConfigPath("b", "c"))
        log.report("second", at: ConfigPath("b"))
        log.report("first", at: ConfigPath("a"))
        log.report("missing, sorted at its parent", at: ConfigPath("b", "missing"))
        #expect(
            log.problems.map(\.description) == [
                "a: first", "b: second", "b.missing: missing, sorted at its parent", "b.c: third",
            ])
    }

    @Test func firstSightingOfAPathWins() {
        var log = ProblemLog()
        log.note((5, 1), for: ConfigPath("x"))
        log.note((1, 1), for: ConfigPath("x"))
        log.note((3, 1), for: ConfigPath("y"))
        log.report("x", at: ConfigPath("x"))
        log.report("y", at: ConfigPath("y"))
        #expect(log.problems.map(\.path) == ["y", "x"])
    }

    @Test func pathsNeverSeenSortFirst() {
        var log = ProblemLog()
        log.note((2, 1), for: ConfigPath("a"))
        log.report("late", at: ConfigPath("a"))
        log.report("nowhere", at: ConfigPath("z"))
        #expect(log.problems.map(\.path) == ["z", "a"])
    }

    @Test func problemsTouchAncestorsAndDescendants() {
        var log = ProblemLog()
        #expect(log.isEmpty)
        log.report("bad", at: ConfigPath("session", "cookie"))
        #expect(!log.isEmpty)
        #expect(log.hasProblem(touching: ConfigPath("session", "cookie", "name")))
        #expect(log.hasProblem(touching: ConfigPath("session")))
        #expect(!log.hasProblem(touching: ConfigPath("session", "store")))
        #expect(!log.hasProblem(touching: ConfigPath("client")))
    }
}
