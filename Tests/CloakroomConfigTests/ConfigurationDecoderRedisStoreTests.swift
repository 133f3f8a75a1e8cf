import Testing

@testable import CloakroomConfig

@Suite("Decoding session.store.redis")
struct ConfigurationDecoderRedisStoreTests {
    private let secret = String(repeating: "s", count: 32)

    private func redis(_ settings: String) -> String {
        minimal(adding: "session:\n  secrets: [\"\(secret)\"]\n  store:\n    redis: { \(settings) }\n")
    }

    @Test func defaults() throws {
        let configuration = try #require(load(redis("")))
        let expected = RedisStoreSettings(
            url: "redis://127.0.0.1:6379/0", keyPrefix: "cloakroom:", poolSize: 8,
            connectTimeout: .seconds(2), commandTimeout: .seconds(1)
        )
        #expect(configuration.session.store == .redis(expected))
    }

    @Test func everyKey() throws {
        let configuration = try #require(load(redis(
            "url: \"rediss://cr:pw@cache:6380/2\", key_prefix: \"cr:\", pool_size: 32, connect_timeout: 500ms, command_timeout: 250ms"
        )))
        let expected = RedisStoreSettings(
            url: "rediss://cr:pw@cache:6380/2", keyPrefix: "cr:", poolSize: 32,
            connectTimeout: .milliseconds(500), commandTimeout: .milliseconds(250)
        )
        #expect(configuration.session.store == .redis(expected))
    }

    @Test(arguments: [
        ("pool_size: 0", "session.store.redis.pool_size", "must be at least 1, got 0"),
        ("pool_size: 1025", "session.store.redis.pool_size", "must be at most 1024, got 1025"),
        ("pool_size: eight", "session.store.redis.pool_size", "expected an integer, got \"eight\""),
        ("connect_timeout: 2", "session.store.redis.connect_timeout", "add a unit"),
        ("connect_timeout: 0s", "session.store.redis.connect_timeout", "must be greater than 0"),
        ("command_timeout: soon", "session.store.redis.command_timeout", "expected a duration like 30s"),
        ("command_timeout: 1s, timeout: 1s", "session.store.redis.timeout", "unknown key"),
    ])
    func problemsNameTheirKey(_ settings: String, _ path: String, _ message: String) {
        expectSingleProblem(redis(settings), at: path, message)
    }

    @Test func everyProblemIsReportedInOnePass() {
        let found = problems(in: redis("pool_size: 0, connect_timeout: never, command_timeout: -1s"))
        #expect(found.map(\.path) == [
            "session.store.redis.pool_size", "session.store.redis.connect_timeout", "session.store.redis.command_timeout",
        ])
    }
}
