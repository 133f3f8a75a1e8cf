import Testing

@testable import CloakroomConfig

/// `session.max_per_user` and `session.self_service`.
@Suite struct GovernanceConfigTests {
    private func session(_ body: String) -> String {
        minimal(adding: "session:\n" + body.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")
    }

    @Test func defaultsAreUnlimitedAndNoPage() throws {
        let configuration = try #require(load(minimalYAML))
        #expect(configuration.session.maxPerUser == 0)
        #expect(configuration.session.selfService == nil)
    }

    @Test func readsBoth() throws {
        let configuration = try #require(load(session("max_per_user: 3\nself_service: /.cloakroom/sessions")))
        #expect(configuration.session.maxPerUser == 3)
        #expect(configuration.session.selfService == "/.cloakroom/sessions")
        #expect(try #require(load(session("self_service: null"))).session.selfService == nil)
    }

    @Test func maxPerUserIsACountFromZero() {
        expectSingleProblem(session("max_per_user: -1"), at: "session.max_per_user", "at least 0")
        expectSingleProblem(session("max_per_user: three"), at: "session.max_per_user", "integer")
    }

    @Test(arguments: ["sessions", "/sessions/", "/", "/a?b"])
    func selfServiceIsAPathWithoutATrailingSlash(path: String) {
        let found = problems(in: session("self_service: \"\(path)\""))
        #expect(found.map(\.path) == ["session.self_service"], "\(found)")
    }

    @Test func selfServiceMustNotTakeAnotherEndpoint() {
        expectSingleProblem(session("self_service: /logout"), at: "session.self_service", "must differ from logout.path")
        expectSingleProblem(
            minimal(adding: "session:\n  self_service: /account\nlogin:\n  path: /account/login\n"), at: "session.self_service",
            "must differ from login.path")
    }
}
