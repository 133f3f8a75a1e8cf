import Testing

@testable import CloakroomConfig

@Suite("Decoding session.store.redis.sentinel and min_replicas")
struct ConfigurationDecoderRedisSentinelTests {
    private let secret = String(repeating: "s", count: 32)

    private func redis(_ settings: String) -> String {
        minimal(adding: "session:\n  secrets: [\"\(secret)\"]\n  store:\n    redis: { \(settings) }\n")
    }

    @Test func everySentinelKey() throws {
        let configuration = try #require(load(redis("""
            sentinel: { master: mymaster, addresses: ["10.0.0.1:26379", "sentinel-b", "[fd00::3]:26380"],
                        username: watcher, password: "${SENTINEL_PASSWORD}" },
            username: cloakroom, password: "${REDIS_PASSWORD}", db: 2, tls: true, key_prefix: "cr:",
            pool_size: 16, connect_timeout: 500ms, command_timeout: 250ms, min_replicas: 1
            """), environment: ["SENTINEL_PASSWORD": "s-pw", "REDIS_PASSWORD": "d-pw"]))
        let expected = RedisStoreSettings(
            sentinel: RedisSentinelSettings(
                master: "mymaster",
                addresses: [
                    SocketAddressSpec(host: "10.0.0.1", port: 26379), SocketAddressSpec(host: "sentinel-b", port: 26379),
                    SocketAddressSpec(host: "fd00::3", port: 26380),
                ],
                username: "watcher", password: "s-pw"),
            username: "cloakroom", password: "d-pw", database: 2, tls: true, keyPrefix: "cr:", poolSize: 16,
            connectTimeout: .milliseconds(500), commandTimeout: .milliseconds(250), minReplicas: 1)
        #expect(configuration.session.store == .redis(expected))
    }

    @Test func sentinelDefaults() throws {
        let configuration = try #require(load(redis("sentinel: { master: mymaster, addresses: [\"127.0.0.1:26379\"] }")))
        guard case .redis(let settings) = configuration.session.store else { Issue.record("expected redis"); return }
        #expect(settings.sentinel == RedisSentinelSettings(master: "mymaster", addresses: [SocketAddressSpec(host: "127.0.0.1", port: 26379)]))
        #expect(settings.username == nil && settings.password == nil && settings.database == 0 && settings.tls == false)
        #expect(settings.minReplicas == 0)
        // Nulls, as the SPEC writes the defaults out.
        let spelled = try #require(load(redis(
            "sentinel: { master: m, addresses: [\"s:1\"], username: null, password: null }, username: null, password: null, db: 0, tls: false")))
        guard case .redis(let same) = spelled.session.store else { Issue.record("expected redis"); return }
        #expect(same.sentinel?.username == nil && same.password == nil)
    }

    @Test func minReplicasWithAURL() throws {
        let configuration = try #require(load(redis("url: \"redis://cache:6379/0\", min_replicas: 2")))
        #expect(configuration.session.store == .redis(RedisStoreSettings(url: "redis://cache:6379/0", minReplicas: 2)))
    }

    @Test(arguments: [
        ("url: \"redis://a:6379\", sentinel: { master: m, addresses: [\"s:26379\"] }", "session.store.redis.sentinel", "not both"),
        ("password: pw", "session.store.redis.password", "only with sentinel"),
        ("url: \"redis://a:6379\", db: 1", "session.store.redis.db", "write it in the URL"),
        ("tls: true", "session.store.redis.tls", "only with sentinel"),
        ("sentinel: { addresses: [\"s:26379\"] }", "session.store.redis.sentinel.master", "required key is missing"),
        ("sentinel: { master: \"my master\", addresses: [\"s:26379\"] }", "session.store.redis.sentinel.master", "no spaces"),
        ("sentinel: { master: m }", "session.store.redis.sentinel.addresses", "required key is missing"),
        ("sentinel: { master: m, addresses: [] }", "session.store.redis.sentinel.addresses", "at least one sentinel"),
        ("sentinel: { master: m, addresses: [\"s:26379\", \"bad host:1\"] }", "session.store.redis.sentinel.addresses[1]", "expected host:port"),
        ("sentinel: { master: m, addresses: [\"s:0\"] }", "session.store.redis.sentinel.addresses[0]", "port must be 1–65535"),
        ("sentinel: { master: m, addresses: [\"s\", \"s:26379\"] }", "session.store.redis.sentinel.addresses[1]", "listed twice"),
        ("sentinel: { master: m, addresses: [\"s\"], username: watcher }", "session.store.redis.sentinel.username", "needs a password"),
        ("sentinel: { master: m, addresses: [\"s\"], port: 26379 }", "session.store.redis.sentinel.port", "unknown key"),
        ("sentinel: { master: m, addresses: [\"s\"] }, username: cloakroom", "session.store.redis.username", "needs a password"),
        ("sentinel: { master: m, addresses: [\"s\"] }, db: -1", "session.store.redis.db", "must be at least 0"),
        ("sentinel: { master: m, addresses: [\"s\"] }, db: 2147483648", "session.store.redis.db", "must be at most 999999"),
        ("sentinel: { master: m, addresses: [\"s\"] }, tls: maybe", "session.store.redis.tls", "expected true or false"),
        ("sentinel: { master: m, addresses: [\"s\"] }, password: \"\"", "session.store.redis.password", "must not be empty"),
        ("min_replicas: -1", "session.store.redis.min_replicas", "must be at least 0"),
        ("min_replicas: one", "session.store.redis.min_replicas", "expected an integer"),
    ])
    func problemsNameTheirKey(_ settings: String, _ path: String, _ message: String) {
        expectSingleProblem(redis(settings), at: path, message)
    }

    @Test func everyProblemIsReportedInOnePass() {
        let found = problems(in: redis(
            "sentinel: { master: \"\", addresses: [\"a b\"], username: u }, tls: 3, min_replicas: -2, pool_size: 0"))
        #expect(found.map(\.path) == [
            "session.store.redis.sentinel.master", "session.store.redis.sentinel.addresses[0]",
            "session.store.redis.sentinel.username", "session.store.redis.tls", "session.store.redis.min_replicas",
            "session.store.redis.pool_size",
        ], "in the file's order")
    }

    @Test func passwordsNeverAppearInProblems() {
        let found = problems(in: redis("url: \"redis://:hunter2@a:6379\", password: hunter2"))
        #expect(!found.isEmpty)
        #expect(!found.contains { $0.message.contains("hunter2") })
    }
}
