import Testing

@testable import CloakroomConfig

@Suite("ConfigurationProblem and ConfigurationError")
struct ConfigurationProblemTests {
    @Test func descriptionJoinsPathAndMessage() {
        let problem = ConfigurationProblem(path: "routes[1].upstream", message: "unknown upstream \"apii\"")
        #expect(problem.description == "routes[1].upstream: unknown upstream \"apii\"")
    }

    @Test func descriptionIsJustTheMessageWithoutAPath() {
        #expect(ConfigurationProblem(path: "", message: "file is empty").description == "file is empty")
    }

    @Test func errorListsOneProblemPerLine() {
        let error = ConfigurationError(problems: [
            ConfigurationProblem(path: "a", message: "one"),
            ConfigurationProblem(path: "b[0]", message: "two"),
        ])
        #expect(error.description == "a: one\nb[0]: two")
    }
}
