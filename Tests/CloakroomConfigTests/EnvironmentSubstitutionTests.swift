import Testing

@testable import CloakroomConfig

@Suite("Environment substitution")
struct EnvironmentSubstitutionTests {
    @Test func replacesSetVariables() {
        let outcome = EnvironmentSubstitution.substitute("a${X}b${Y_2}", environment: ["X": "1", "Y_2": "two"])
        #expect(outcome == .substituted("a1btwo"))
    }

    @Test func reportsEveryUnsetVariable() {
        let outcome = EnvironmentSubstitution.substitute("${A}-${B}-${C}", environment: ["B": "b"])
        #expect(outcome == .failed([.unset(name: "A"), .unset(name: "C")]))
    }

    @Test func doubleDollarEscapesAndLoneDollarStays() {
        #expect(
            EnvironmentSubstitution.substitute("$${X} costs $5 $", environment: [:]) == .substituted("${X} costs $5 $"))
    }

    @Test func emptyValueIsSubstituted() {
        #expect(EnvironmentSubstitution.substitute("[${E}]", environment: ["E": ""]) == .substituted("[]"))
    }

    @Test(arguments: ["${", "${X", "${}", "${1X}", "${A-B}"])
    func malformedReferencesFail(text: String) {
        guard case .failed(let failures) = EnvironmentSubstitution.substitute(text, environment: ["X": "x"]) else {
            Issue.record("expected a failure for \(text)")
            return
        }
        #expect(failures.count == 1)
        #expect(failures.first?.message.contains("malformed environment reference") == true)
    }

    @Test func substitutedValueIsNotSubstitutedAgain() {
        #expect(
            EnvironmentSubstitution.substitute("${A}", environment: ["A": "${B}", "B": "x"]) == .substituted("${B}"))
    }

    @Test func loaderSubstitutesIntoTypedValues() throws {
        let yaml = minimal(
            adding: """
                client:
                  header_timeout: "${TIMEOUT}"
                  max_body_bytes: ${BODY}
                session:
                  secrets: ["${SECRET}"]

                """)
        let secret = String(repeating: "s", count: 32)
        let configuration = try #require(load(yaml, environment: ["TIMEOUT": "5s", "BODY": "1MiB", "SECRET": secret]))
        #expect(configuration.client.headerTimeout == .seconds(5))
        #expect(configuration.client.maxBodyBytes == 1 << 20)
        #expect(configuration.session.secrets == [secret])
    }

    @Test func unsetVariableIsAProblemAtItsKeyPath() {
        expectSingleProblem(
            minimal(adding: "session:\n  secrets:\n    - \"${CLOAKROOM_SECRET}\"\n"),
            at: "session.secrets[0]", "environment variable CLOAKROOM_SECRET is not set", exact: true
        )
    }

    @Test func escapedDollarReachesTheValue() throws {
        let token = "$$" + String(repeating: "t", count: 40)
        let yaml = minimal(adding: "admin:\n  listen: \"127.0.0.1:9901\"\n  token: \"\(token)\"\n")
        let configuration = try #require(load(yaml))
        #expect(configuration.admin?.token == "$" + String(repeating: "t", count: 40))
    }

    @Test func keysAreNotSubstituted() {
        expectSingleProblem(
            minimal(adding: "client:\n  ${KEY}: 5s\n"), at: "client[\"${KEY}\"]", "unknown key",
            environment: ["KEY": "idle_timeout"])
    }
}
