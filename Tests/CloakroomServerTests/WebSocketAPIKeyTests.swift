import CloakroomConfig
import CloakroomSessions
import Foundation
import Testing

/// A WebSocket opened with an API key is watched by the key: revoking the key closes it (1008),
/// like a session's; ending everyone's sessions leaves it (keys are not sessions).
@Suite(.serialized)
struct WebSocketAPIKeyTests {
    @Test func revokingTheKeyClosesItsTunnel() async throws {
        let harness = try await ProxyHarness.start(adjust: { configuration in
            let last = configuration.routes.count - 1
            configuration.routes[last].credentials = RouteCredentials([.cookie, .apiKey])
        })
        defer { Task { await harness.stop() } }
        let keys = try #require(harness.server.store as? any APIKeyStore)
        let secret = APIKeySecret.random()
        let key = try await keys.createKey(key: secret.key, attributes: ["sub": "ci-bot"], name: "ws", ttl: .seconds(3600))

        let client = try await WebSocketTests.connect(harness, cookie: nil, extra: ["Authorization: Bearer \(secret.text)"])
        #expect(client.status == 101, "\(client.responseHead)")
        #expect(harness.backend.requests.last?.value("x-user-id") == "ci-bot")
        #expect(harness.backend.requests.last?.value("authorization") == nil)

        // Everyone's sessions end: not the key, so the tunnel stays (past a watch poll).
        _ = try await harness.server.store.revokeAll()
        try await Task.sleep(for: .milliseconds(600))
        try await offPool { try client.sendText("still") }
        #expect(try await offPool { try client.readFrame() }?.text == "echo:still")

        #expect(try await keys.revokeKey(handle: key.handle))
        let (frames, seconds) = try await WebSocketTests.awaitClose(client)
        #expect(seconds < WebSocketTests.promptly, "closed \(seconds)s after the revoke (the next 250 ms poll)")
        #expect(frames.last?.closeCode == 1008, "\(frames)")
    }
}
