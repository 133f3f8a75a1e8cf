import Testing

@testable import CloakroomConfig

@Suite("ConfigPath")
struct ConfigPathTests {
    @Test func rendersKeysAndIndexes() {
        #expect(ConfigPath.root.description == "")
        #expect(ConfigPath("client", "header_timeout").description == "client.header_timeout")
        #expect(ConfigPath("routes").appending(index: 2).appending("upstream").description == "routes[2].upstream")
        #expect(ConfigPath("listen").appending(index: 0).description == "listen[0]")
    }

    @Test func quotesKeysThatAreNotPlainWords() {
        #expect(ConfigPath("identity", "headers", "X User").description == "identity.headers[\"X User\"]")
        #expect(ConfigPath("upstreams", "a.b").description == "upstreams[\"a.b\"]")
    }

    @Test func containment() {
        let cookie = ConfigPath("session", "cookie")
        #expect(ConfigPath("session", "cookie", "name").isWithin(cookie))
        #expect(cookie.isWithin(cookie))
        #expect(!ConfigPath("session").isWithin(cookie))
        #expect(cookie.parent == ConfigPath("session"))
        #expect(ConfigPath.root.parent == .root)
    }
}
