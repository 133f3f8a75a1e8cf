import CloakroomConfig
import CloakroomServer
import Foundation
import Testing

/// What `cloakroom check` (and `serve`, and a reload) says about `identity.assertion`'s keys:
/// each problem with its key path, in the same pass as every other problem.
@Suite struct AssertionCheckTests {
    static func configuration(keys: [String]) -> Configuration {
        ProxyHarness.configuration(backendPort: 9) { configuration in
            var assertion = AssertionSettings()
            assertion.signingKeys = keys
            configuration.identity.assertion = assertion
        }
    }

    @Test func everyKeyProblemIsNamedByItsIndex() async throws {
        let keys = try await AssertionVerifier.keys(["good", "p384"], curve: "prime256v1")
        let good = keys.appendingPathComponent("good.pem").path
        let p384 = keys.appendingPathComponent("p384.pem").path
        try await AssertionVerifier.openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", p384])
        let rsa = keys.appendingPathComponent("rsa.pem").path
        try await AssertionVerifier.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa])
        let publicKey = keys.appendingPathComponent("public.pem").path
        try await AssertionVerifier.openssl(["ec", "-in", good, "-pubout", "-out", publicKey])
        let text = keys.appendingPathComponent("text.pem").path
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        let missing = keys.appendingPathComponent("missing.pem").path

        let problems = ProxyServer.problems(in: Self.configuration(keys: [good, missing, p384, rsa, publicKey, text, good, keys.path]))
        #expect(problems.count == 7, "\(problems)")
        #expect(problems.contains("identity.assertion.signing_keys[1]: file \"\(missing)\" does not exist"), "\(problems)")
        #expect(problems.contains("identity.assertion.signing_keys[2]: \"\(p384)\" is an EC P-384 key; signing keys must be EC P-256 (ES256)"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("identity.assertion.signing_keys[3]: \"\(rsa)\" is an RSA key") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("identity.assertion.signing_keys[4]: \"\(publicKey)\" holds a public key") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("identity.assertion.signing_keys[5]: \"\(text)\" holds no PEM") }, "\(problems)")
        #expect(problems.contains("identity.assertion.signing_keys[6]: \"\(good)\" holds the same key as signing_keys[0]"), "\(problems)")
        #expect(problems.contains("identity.assertion.signing_keys[7]: \"\(keys.path)\" is a directory, not a file"), "\(problems)")
        #expect(ProxyServer.problems(in: Self.configuration(keys: [good])).isEmpty)
        #expect(throws: (any Error).self) { try ProxyServer.validate(Self.configuration(keys: [good, p384])) }
    }

    @Test func checkReportsKeyProblemsInTheSamePassAsTheRest() async throws {
        let keys = try await AssertionVerifier.keys(["p384"], curve: "secp384r1")
        let p384 = keys.appendingPathComponent("p384.pem").path
        let path = try CommandLineTests.writeConfig("""
            listen:
              - address: "127.0.0.1:8080"
            identity:
              assertion:
                ttl: 2h
                signing_keys: ["\(p384)", "\(keys.path)/none.pem"]
            routes:
              - path: /
                upstream: apii
            upstreams:
              api:
                targets: ["http://127.0.0.1:9000"]
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await CommandLineTests.run(["check", "--config", path])
        #expect(run.status == 1)
        #expect(run.output.contains("identity.assertion.ttl: must be at most 1h"), "\(run.output)")
        #expect(run.output.contains("routes[0].upstream: unknown upstream \"apii\""), "\(run.output)")
        #expect(run.output.contains("identity.assertion.signing_keys[0]: \"\(p384)\" is an EC P-384 key"), "\(run.output)")
        #expect(run.output.contains("identity.assertion.signing_keys[1]: file \"\(keys.path)/none.pem\" does not exist"), "\(run.output)")
    }

    @Test func checkRefusesAFileStoreWithoutSigningKeys() async throws {
        let directory = FileManager.default.temporaryDirectory.path
        let path = try CommandLineTests.writeConfig("""
            listen:
              - address: "127.0.0.1:8080"
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
              store: { file: { path: "\(directory)/assertion-check.db" } }
            identity:
              assertion: {}
            routes:
              - path: /
                upstream: api
            upstreams:
              api:
                targets: ["http://127.0.0.1:9000"]
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await CommandLineTests.run(["check", "--config", path])
        #expect(run.status == 1)
        #expect(run.output.contains("identity.assertion.signing_keys: required with the file and redis stores"), "\(run.output)")
    }
}
