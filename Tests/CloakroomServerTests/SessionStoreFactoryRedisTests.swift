import CloakroomConfig
import CloakroomRedis
import Testing

@testable import CloakroomServer

/// `session.store.redis` as the Redis store takes it: the URL, or the sentinels with the data
/// connections' login, database and TLS.
@Suite struct SessionStoreFactoryRedisTests {
    @Test func aURLStaysAURLWithMinReplicas() throws {
        let settings = try SessionStoreFactory.redisSettings(RedisStoreSettings(url: "rediss://u:p@cache:6380/2", minReplicas: 2))
        #expect(settings.sentinel == nil)
        #expect(settings.client.url == RedisURL(host: "cache", port: 6380, database: 2, user: "u", password: "p", usesTLS: true))
        #expect(settings.minReplicas == 2)
    }

    @Test func sentinelsWithTheDataConnectionsLogin() throws {
        let redis = RedisStoreSettings(
            sentinel: RedisSentinelSettings(
                master: "mymaster", addresses: [SocketAddressSpec(host: "10.0.0.1", port: 26379), SocketAddressSpec(host: "fd00::2", port: 26380)],
                username: "watcher", password: "s-pw"),
            username: "cloakroom", password: "d-pw", database: 3, tls: true, keyPrefix: "cr:", poolSize: 4,
            connectTimeout: .milliseconds(300), commandTimeout: .milliseconds(200), minReplicas: 1)
        let settings = try SessionStoreFactory.redisSettings(redis)
        #expect(settings.sentinel == RedisSentinelConfiguration(
            masterName: "mymaster", sentinels: [RedisEndpoint(host: "10.0.0.1", port: 26379), RedisEndpoint(host: "fd00::2", port: 26380)],
            user: "watcher", password: "s-pw"))
        let url = settings.client.url
        #expect(url.user == "cloakroom" && url.password == "d-pw" && url.database == 3 && url.usesTLS)
        #expect(settings.client.connectTimeout == .milliseconds(300) && settings.client.commandTimeout == .milliseconds(200))
        #expect(settings.keyPrefix == "cr:" && settings.poolSize == 4 && settings.minReplicas == 1)
    }
}
