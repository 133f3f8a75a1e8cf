import Testing

@testable import CloakroomConfig

/// `identity.assertion` and `upstreams.*.audience`. The key files' contents are the server's to
/// check (CloakroomServerTests' AssertionCheckTests).
@Suite("Decoding identity.assertion")
struct ConfigurationDecoderAssertionTests {
    static func assertion(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> AssertionSettings {
        let configuration = try #require(load(yaml), sourceLocation: sourceLocation)
        return try #require(configuration.identity.assertion, sourceLocation: sourceLocation)
    }

    @Test func defaultsWhenTheSectionIsAnEmptyMapping() throws {
        let assertion = try Self.assertion(minimal(adding: "identity: { assertion: {} }\n"))
        #expect(assertion.header == "X-Cloakroom-Assertion")
        #expect(assertion.ttl == .seconds(120))
        #expect(assertion.signingKeys.isEmpty)
        #expect(assertion.issuer == "cloakroom")
    }

    @Test func offByDefaultAndWithNull() throws {
        #expect(try #require(load(minimalYAML)).identity.assertion == nil)
        #expect(try #require(load(minimal(adding: "identity: { assertion: null }\n"))).identity.assertion == nil)
    }

    @Test func everyKey() throws {
        let yaml = minimal(adding: """
            identity:
              assertion:
                header: X-Identity-Token
                ttl: 5m
                signing_keys: [keys/new.pem, keys/old.pem]
                issuer: https://proxy.example
            """)
        let assertion = try Self.assertion(yaml)
        #expect(assertion.header == "X-Identity-Token")
        #expect(assertion.ttl == .seconds(300))
        #expect(assertion.ttlSeconds == 300)
        #expect(assertion.signingKeys == ["keys/new.pem", "keys/old.pem"])
        #expect(assertion.issuer == "https://proxy.example")
    }

    @Test func ttlOverAnHourIsAnError() {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { ttl: 61m } }\n"), at: "identity.assertion.ttl", "must be at most 1h")
        #expect(load(minimal(adding: "identity: { assertion: { ttl: 1h } }\n")) != nil, "1h itself is fine")
    }

    @Test func ttlCountsWholeSeconds() {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { ttl: 1500ms } }\n"), at: "identity.assertion.ttl", "whole number of seconds")
        expectSingleProblem(minimal(adding: "identity: { assertion: { ttl: 0s } }\n"), at: "identity.assertion.ttl", "greater than 0")
    }

    @Test func theHeaderMustBeAFieldTheProxyDoesNotSetItself() {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: \"X Token\" } }\n"), at: "identity.assertion.header",
            "not a valid header name")
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: \"X-Token-*\" } }\n"), at: "identity.assertion.header",
            "not a valid header name")
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: X-Forwarded-For } }\n"), at: "identity.assertion.header",
            "the proxy sets it")
        // A bearer token is forwarded in it, and `pass_access_token` writes the session's.
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: authorization } }\n"), at: "identity.assertion.header",
            "the client's credentials")
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { header: X_User_Id } }\n"), at: "identity.assertion.header",
            "is also an identity header (X-User-Id)")
    }

    @Test func fileAndRedisStoresNeedSigningKeys() {
        for store in ["file: { path: sessions.db }", "redis: { url: \"redis://127.0.0.1:6379/0\" }"] {
            let yaml = minimal(adding: """
                session:
                  secrets: ["0123456789abcdef0123456789abcdef"]
                  store: { \(store) }
                identity: { assertion: {} }
                """)
            expectSingleProblem(yaml, at: "identity.assertion.signing_keys", "required with the file and redis stores")
        }
    }

    @Test func signingKeysAreAListOfPaths() {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { signing_keys: keys/a.pem } }\n"), at: "identity.assertion.signing_keys",
            "expected a list")
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { signing_keys: [\"\"] } }\n"), at: "identity.assertion.signing_keys[0]",
            "must not be empty")
    }

    @Test func unknownKeysAreReported() {
        expectSingleProblem(
            minimal(adding: "identity: { assertion: { tll: 2m } }\n"), at: "identity.assertion.tll", "unknown key")
    }

    @Test func anUpstreamsAudience() throws {
        let yaml = """
            listen:
              - address: "127.0.0.1:8080"
            routes:
              - path: /
                upstream: api
            identity:
              assertion: {}
            upstreams:
              api:
                targets: ["http://127.0.0.1:9000"]
                audience: https://api.example
              billing:
                targets: ["http://127.0.0.1:9001"]
              orders:
                targets: ["http://127.0.0.1:9002"]
                audience: null
            """
        let upstreams = try #require(load(yaml)).upstreams
        #expect(upstreams["api"]?.audience == "https://api.example")
        #expect(upstreams["billing"]?.audience == nil)
        #expect(upstreams["orders"]?.audience == nil)
    }

    /// Found by an audit: an audience without the assertion was accepted and did nothing.
    @Test func anAudienceNeedsTheAssertion() {
        expectSingleProblem(
            "listen: [{ address: \"127.0.0.1:8080\" }]\nroutes: [{ path: /, upstream: api }]\n"
                + "upstreams: { api: { targets: [\"http://127.0.0.1:9001\"], audience: svc } }\n",
            at: "upstreams.api.audience", "identity.assertion is not configured")
    }

    @Test func problemsComeInOnePass() {
        let found = problems(in: minimal(adding: """
            session:
              secrets: ["0123456789abcdef0123456789abcdef"]
              store: { file: { path: sessions.db } }
            identity:
              assertion: { ttl: 2h, header: Content-Length }
            """), files: nil)
        #expect(Set(found.map(\.path)) == ["identity.assertion.ttl", "identity.assertion.header", "identity.assertion.signing_keys"])
    }
}
