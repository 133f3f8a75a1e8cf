import Testing

@testable import CloakroomConfig

/// `listen` and `client`.
@Suite("Decoding listeners and client limits")
struct ConfigurationDecoderListenersTests {
    private let rest = """
        routes: [{ path: /, upstream: api }]
        upstreams: { api: { builtin: echo } }

        """

    @Test func listenIsRequired() {
        expectSingleProblem(rest, at: "listen", "required key is missing", exact: true)
    }

    @Test func listenMustNotBeEmpty() {
        expectSingleProblem("listen: []\n" + rest, at: "listen", "at least one listener")
    }

    @Test func listenMustBeAList() {
        expectSingleProblem(
            "listen: \"127.0.0.1:8080\"\n" + rest, at: "listen", "expected a list, got \"127.0.0.1:8080\"")
    }

    @Test func addressIsRequired() {
        expectSingleProblem("listen: [{ tls: null }]\n" + rest, at: "listen[0].address", "required key is missing")
    }

    @Test(arguments: [
        ("localhost", "expected host:port"), ("127.0.0.1:70000", "port must be 0–65535, got 70000"),
        ("::1:8080", "brackets"), ("[::1]", "expected host:port"),
    ])
    func addressMustBeHostAndPort(address: String, message: String) {
        expectSingleProblem("listen: [{ address: \"\(address)\" }]\n" + rest, at: "listen[0].address", message)
    }

    @Test func ipv6AndPortZeroAreAccepted() throws {
        let configuration = try #require(load("listen: [{ address: \"[::]:0\" }, { address: \"[::]:0\" }]\n" + rest))
        #expect(
            configuration.listeners.map(\.address) == [
                SocketAddressSpec(host: "::", port: 0), SocketAddressSpec(host: "::", port: 0),
            ])
    }

    @Test func duplicateListenAddressesAreRejected() {
        let yaml = "listen: [{ address: \"127.0.0.1:8080\" }, { address: \"127.0.0.1:8080\" }]\n" + rest
        expectSingleProblem(yaml, at: "listen[1].address", "same address as listen[0]")
    }

    @Test func tlsNeedsBothFiles() throws {
        let certificate = try temporaryFile(named: "only.crt")
        let yaml = "listen: [{ address: \"0.0.0.0:8443\", tls: { certificate: \"\(certificate)\" } }]\n" + rest
        expectSingleProblem(yaml, at: "listen[0].tls.private_key", "required key is missing")
    }

    @Test func tlsFilesMustExist() throws {
        let privateKey = try temporaryFile(named: "exists.key")
        let yaml = """
            listen:
              - address: "0.0.0.0:8443"
                tls: { certificate: certs/missing.crt, private_key: "\(privateKey)" }

            """ + rest
        expectSingleProblem(
            yaml, at: "listen[0].tls.certificate", "file \"certs/missing.crt\" does not exist", exact: true)
    }

    @Test func tlsNullMeansPlainHTTP() throws {
        let configuration = try #require(load("listen: [{ address: \"127.0.0.1:8080\", tls: null }]\n" + rest))
        #expect(configuration.listeners.first?.tls == nil)
    }

    @Test func clientSectionReadsEveryKey() throws {
        let yaml = minimal(
            adding: """
                client: { header_timeout: 250ms, idle_timeout: 1h30m, body_timeout: 5s, max_header_bytes: 8KiB, max_body_bytes: 512 }

                """)
        let client = try #require(load(yaml)).client
        #expect(client.headerTimeout == .milliseconds(250))
        #expect(client.idleTimeout == .seconds(5400))
        #expect(client.bodyTimeout == .seconds(5))
        #expect(ClientLimits().bodyTimeout == .seconds(60))
        #expect(client.maxHeaderBytes == 8192)
        #expect(client.maxBodyBytes == 512)
    }

    @Test(arguments: [
        ("header_timeout: 0s", "client.header_timeout", "must be greater than 0"),
        ("header_timeout: soon", "client.header_timeout", "expected a duration like 30s, got \"soon\""),
        ("idle_timeout: 75", "client.idle_timeout", "add a unit"),
        ("idle_timeout: -5s", "client.idle_timeout", "expected a duration"),
        ("body_timeout: 0s", "client.body_timeout", "must be greater than 0"),
        ("max_header_bytes: 255", "client.max_header_bytes", "must be at least 256, got 255"),
        ("body_timeout: later", "client.body_timeout", "expected a duration like 30s, got \"later\""),
        ("max_body_bytes: 0", "client.max_body_bytes", "must be greater than 0"),
        ("max_body_bytes: lots", "client.max_body_bytes", "expected a size like 10MiB, got \"lots\""),
        ("max_body_bytes: [1]", "client.max_body_bytes", "expected a size like 10MiB, got a list"),
        ("max_body_bytes:", "client.max_body_bytes", "expected a size like 10MiB, got null"),
        // Past these bounds serve trapped (arithmetic overflow) on the first connection.
        ("header_timeout: 1000000000d", "client.header_timeout", "must be at most 3650d"),
        ("idle_timeout: 3651d", "client.idle_timeout", "must be at most 3650d"),
        ("tunnel_idle_timeout: 3650d1ms", "client.tunnel_idle_timeout", "must be at most 3650d"),
        ("max_concurrent_streams: 2147483648", "client.max_concurrent_streams", "must be at most 2147483647, got 2147483648"),
        ("max_header_bytes: \"9223372036854775807\"", "client.max_header_bytes", "must be at most 1GiB"),
        ("max_header_bytes: 1025MiB", "client.max_header_bytes", "must be at most 1GiB"),
    ])
    func clientValuesAreChecked(line: String, path: String, message: String) {
        expectSingleProblem(minimal(adding: "client:\n  \(line)\n"), at: path, message)
    }

    /// SPEC's own example size: a tight limit, but one a test or a machine client can use.
    @Test func aHeadLimitOf512BytesIsAccepted() throws {
        #expect(try #require(load(minimal(adding: "client: { max_header_bytes: 512 }\n"))).client.maxHeaderBytes == 512)
    }

    @Test func theLargestValuesLoad() throws {
        let yaml = minimal(adding: "client: { header_timeout: 3650d, max_concurrent_streams: 2147483647, max_header_bytes: 1GiB }\n")
        let client = try #require(load(yaml)).client
        #expect(client.headerTimeout == .seconds(3650 * 86_400))
        #expect(client.maxConcurrentStreams == 2_147_483_647)
        #expect(client.maxHeaderBytes == 1 << 30)
    }

    @Test func emptyClientSectionKeepsDefaults() throws {
        #expect(try #require(load(minimal(adding: "client:\n"))).client == ClientLimits())
    }
}
