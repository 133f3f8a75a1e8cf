import Foundation
import Testing

@testable import CloakroomConfig

/// ``ConfigurationLoader/adminAccess(contentsOf:environment:listen:token:)``: what the
/// admin-talking commands read, and only that.
@Suite("ConfigurationLoader.adminAccess")
struct ConfigurationLoaderAdminTests {
    static let token = String(repeating: "t", count: 32)

    static func file(_ admin: String) throws -> String {
        try temporaryFile(named: "proxy-admin-\(UUID().uuidString).yaml", contents: """
            listen: [{ address: "127.0.0.1:8080" }]
            session: { secrets: ["${SESSION_SECRET}"] }
            client: { header_timout: 10s }
            routes: [{ path: /, upstream: api }]
            upstreams: { api: { builtin: echo } }
            \(admin)
            """)
    }

    static func problems(_ body: () throws(ConfigurationError) -> AdminAccess?) -> [String] {
        do {
            _ = try body()
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func readsOnlyTheKeysAskedFor() throws {
        let path = try Self.file("""
            admin: { listen: "127.0.0.1:9901", token: "${CLOAKROOM_ADMIN_TOKEN}" }
            """)
        // Problems elsewhere (an unset secret, a typo) are not the command's concern.
        let listen = try ConfigurationLoader.adminAccess(contentsOf: path, environment: [:], listen: true, token: false)
        #expect(listen == AdminAccess(listen: SocketAddressSpec(host: "127.0.0.1", port: 9901), token: nil))
        let both = try ConfigurationLoader.adminAccess(
            contentsOf: path, environment: ["CLOAKROOM_ADMIN_TOKEN": Self.token], listen: true, token: true)
        #expect(both?.token == Self.token)
        #expect(
            Self.problems { () throws(ConfigurationError) in
                try ConfigurationLoader.adminAccess(contentsOf: path, environment: [:], listen: true, token: true)
            } == ["admin.token: environment variable CLOAKROOM_ADMIN_TOKEN is not set"])
        #expect(try ConfigurationLoader.adminAccess(contentsOf: path, environment: [:], listen: false, token: false) == AdminAccess())
    }

    @Test func whatItReadsIsCheckedAsServeChecksIt() throws {
        let path = try Self.file("""
            admin: { listen: "nowhere", token: "short" }
            """)
        let problems = Self.problems { () throws(ConfigurationError) in
            try ConfigurationLoader.adminAccess(contentsOf: path, environment: [:], listen: true, token: true)
        }
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.first?.hasPrefix("admin.listen:") == true && problems.last?.hasPrefix("admin.token:") == true, "\(problems)")
        let missing = try Self.file("admin: { token: \"\(Self.token)\" }")
        #expect(
            try ConfigurationLoader.adminAccess(contentsOf: missing, environment: [:], listen: true, token: false)?.listen
                == SocketAddressSpec(host: "127.0.0.1", port: 9901))
    }

    /// Found by an audit: `admin: { lisen: … }` was ignored and the token sent to the default
    /// address; `login: { users_fle: … }` made `users add` write ./users.yaml.
    @Test func aMisspelledKeyInWhatItReadsIsReported() throws {
        let typo = try Self.file("admin: { lisen: \"127.0.0.1:9902\", token: \"\(Self.token)\" }")
        let problems = Self.problems { () throws(ConfigurationError) in
            try ConfigurationLoader.adminAccess(contentsOf: typo, environment: [:], listen: true, token: true)
        }
        #expect(problems.count == 1 && problems.first?.hasPrefix("admin.lisen: unknown key") == true, "\(problems)")
        let topLevel = try Self.file("admn: { listen: \"127.0.0.1:9902\" }")
        let top = Self.problems { () throws(ConfigurationError) in
            try ConfigurationLoader.adminAccess(contentsOf: topLevel, environment: [:], listen: true, token: true)
        }
        #expect(top.count == 1 && top.first?.hasPrefix("admn: unknown key") == true, "\(top)")
        let users = try Self.file("login: { users_fle: team.yaml }")
        do {
            _ = try ConfigurationLoader.usersFile(contentsOf: users, environment: [:])
            Issue.record("expected the misspelled key to be reported")
        } catch {
            #expect(error.problems.map(\.description).first?.hasPrefix("login.users_fle: unknown key") == true, "\(error)")
        }
    }

    @Test func noAdminSectionIsNil() throws {
        #expect(try ConfigurationLoader.adminAccess(contentsOf: try Self.file(""), environment: [:], listen: true, token: true) == nil)
        let broken = try temporaryFile(named: "proxy-admin-broken.yaml", contents: "admin: [unclosed")
        #expect(
            Self.problems { () throws(ConfigurationError) in
                try ConfigurationLoader.adminAccess(contentsOf: broken, environment: [:], listen: true, token: true)
            }.first?.hasPrefix("invalid YAML") == true)
    }
}
