import Testing

@testable import CloakroomConfig

@Suite("Decoding the admin section")
struct ConfigurationDecoderAdminTests {
    private let token = String(repeating: "k", count: 32)

    @Test func adminIsOptional() throws {
        #expect(try #require(load(minimalYAML)).admin == nil)
        // `admin: null` and a bare `admin:` are no section either (found by an audit).
        #expect(try #require(load(minimal(adding: "admin: null\n"))).admin == nil)
        #expect(try #require(load(minimal(adding: "admin:\n"))).admin == nil)
    }

    @Test func adminReadsListenAndToken() throws {
        let configuration = try #require(
            load(minimal(adding: "admin: { listen: \"[::1]:9901\", token: \"\(token)\" }\n")))
        #expect(configuration.admin == AdminSettings(listen: SocketAddressSpec(host: "::1", port: 9901), token: token))
    }

    @Test func onlyTheTokenIsRequiredWhenPresent() {
        let found = problems(in: minimal(adding: "admin: {}\n"))
        #expect(found.map(\.path) == ["admin.token"])
    }

    /// SPEC shows `listen: "127.0.0.1:9901"` among the defaults; only the token is required.
    @Test func listenDefaultsToLoopback9901() throws {
        let configuration = try #require(load(minimal(adding: "admin: { token: \"\(token)\" }\n")))
        #expect(configuration.admin?.listen == SocketAddressSpec(host: "127.0.0.1", port: 9901))
    }

    @Test func tokenNeeds32Bytes() {
        expectSingleProblem(
            minimal(adding: "admin: { listen: \"127.0.0.1:9901\", token: short }\n"),
            at: "admin.token", "must be at least 32 bytes, got 5", exact: true)
    }

    @Test func tokenMustFitInAHeader() {
        let spaced = String(repeating: "a b ", count: 10)
        expectSingleProblem(
            minimal(adding: "admin: { listen: \"127.0.0.1:9901\", token: \"\(spaced)\" }\n"),
            at: "admin.token", "visible ASCII")
    }

    @Test func tokenFromAnUnsetVariable() {
        expectSingleProblem(
            minimal(adding: "admin: { listen: \"127.0.0.1:9901\", token: \"${CLOAKROOM_ADMIN_TOKEN}\" }\n"),
            at: "admin.token", "environment variable CLOAKROOM_ADMIN_TOKEN is not set", exact: true)
    }

    @Test func listenMustBeAnAddress() {
        expectSingleProblem(
            minimal(adding: "admin: { listen: \"9901\", token: \"\(token)\" }\n"),
            at: "admin.listen", "expected host:port")
    }

    @Test func adminNeverSharesAPublicListener() {
        expectSingleProblem(
            minimal(adding: "admin: { listen: \"127.0.0.1:8080\", token: \"\(token)\" }\n"),
            at: "admin.listen", "must differ from listen[0]")
    }

    /// Every problem at once: a missing token does not hide the listener clash (found by a
    /// black-box audit: fixing the token revealed the second problem only then).
    @Test func aMissingTokenDoesNotHideTheListenerClash() {
        let found = problems(in: minimal(adding: "admin: { listen: \"127.0.0.1:8080\" }\n"))
        #expect(found.map(\.path).sorted() == ["admin.listen", "admin.token"], "\(found)")
    }
}
