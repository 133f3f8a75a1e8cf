@testable import CloakroomRedis
import Testing

@Suite struct RedisURLTests {
    @Test func parsesEveryPart() throws {
        let url = try RedisURL(parsing: "redis://cloakroom:s3cr%40t@cache.internal:6380/2")
        #expect(url == RedisURL(host: "cache.internal", port: 6380, database: 2, user: "cloakroom", password: "s3cr@t", usesTLS: false))
        #expect(url.description == "redis://cloakroom:***@cache.internal:6380/2", "the password is never shown")
    }

    @Test func defaults() throws {
        #expect(try RedisURL(parsing: "redis://127.0.0.1") == RedisURL(host: "127.0.0.1"))
        #expect(try RedisURL(parsing: "redis://localhost:6379/") == RedisURL(host: "localhost"))
        #expect(try RedisURL(parsing: "REDISS://h/0") == RedisURL(host: "h", usesTLS: true))
    }

    @Test func passwordOnlyAndIPv6() throws {
        let url = try RedisURL(parsing: "rediss://:pa:ss@[::1]:7000/15")
        #expect(url == RedisURL(host: "::1", port: 7000, database: 15, user: nil, password: "pa:ss", usesTLS: true))
        #expect(url.description == "rediss://:***@[::1]:7000/15")
        #expect(try RedisURL(parsing: "redis://[::1]").port == 6379)
    }

    @Test(arguments: [
        "http://h:6379", "redis:/h", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:port",
        "redis://h/db", "redis://h/-1", "redis://h?db=1", "redis://h#x", "redis://user@h", "redis://u:%zz@h",
        "redis://[::1", "redis://[::1]x", "redis://a:b:c",
    ])
    func rejects(_ text: String) {
        #expect(throws: RedisURLError.self, "\(text)") { try RedisURL(parsing: text) }
    }

    @Test func errorsNeverRepeatThePassword() {
        do {
            _ = try RedisURL(parsing: "redis://u:hunter2@h:notaport")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
