import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import CloakroomServer

/// The HTTP/1.1 connection handler on an `EmbeddedChannel`: bytes in, bytes out, no sockets.
/// Requests the proxy answers itself (the echo upstream, 401, 404, malformed ones) go through
/// the whole exchange engine without leaving the channel.
@Suite struct HTTP1ConnectionHandlerTests {
    struct Fixture {
        let channel = EmbeddedChannel()
        let handler: HTTP1ConnectionHandler
        let lines: CapturingLogHandler.Lines
        let store: MemorySessionStore
        let policy: ProxyPolicy

        init(adjust: (inout Configuration) -> Void = { _ in }) throws {
            var session = SessionSettings()
            session.secrets = [String(repeating: "s", count: 32)]
            var configuration = Configuration(
                listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))], session: session,
                routes: [Route(path: "/echo/", upstream: "echo", auth: .optional), Route(path: "/private/", upstream: "echo", auth: .required)],
                upstreams: ["echo": Upstream(kind: .echo)])
            adjust(&configuration)
            store = MemorySessionStore(
                maxSessions: 10, timeouts: SessionTimeouts(idle: .seconds(60), absolute: .seconds(600), touchInterval: .seconds(1)),
                clock: ManualWallClock())
            let (accessLog, lines) = CapturingLogHandler.logger()
            self.lines = lines
            let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let factory = RuntimeFactory(
                store: store, logger: quiet, observability: .init(accessLog: accessLog), clock: ManualWallClock(),
                eventLoops: [channel.eventLoop], watch: SessionWatch(eventLoops: [channel.eventLoop]),
                fallbackSecret: Array(repeating: 1, count: 32), reload: ReloadHook(isAvailable: false))
            let runtime = try factory.make(configuration)
            policy = runtime.policy
            let connection = ClientConnection(
                holder: RuntimeHolder(runtime), client: ClientInfo(address: "192.0.2.9", isSecure: false), isHTTP2: false)
            handler = HTTP1ConnectionHandler(connection: connection, eventLoop: channel.eventLoop, timeouts: nil)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 1)).wait()
        }

        /// Everything written to the client so far.
        func output() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        var loggedOutcomes: [String] {
            lines.all.filter { $0.hasPrefix("info request ") }.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("outcome=") }.map { String($0.dropFirst("outcome=".count)) }
            }
        }
    }

    static func responses(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.").dropFirst().map { "HTTP/1." + $0 }
    }

    @Test func theEchoUpstreamAnswersOnTheConnection() throws {
        let fixture = try Fixture()
        try fixture.send("GET /echo/a?q=1 HTTP/1.1\r\nHost: example\r\nX-User-Id: mallory\r\nX-Custom: 1\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.contains("\"x-custom\":\"1\""))
        #expect(!out.contains("mallory"), "the client's identity header is stripped")
        #expect(!out.lowercased().contains("connection: close"))
        #expect(fixture.channel.isActive, "kept alive")
        #expect(fixture.loggedOutcomes == ["complete"])
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let fixture = try Fixture()
        try fixture.send(
            "GET /echo/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /private/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
        let responses = Self.responses(try fixture.output())
        #expect(responses.count == 3)
        #expect(responses.map { $0.prefix(12) } == ["HTTP/1.1 200", "HTTP/1.1 401", "HTTP/1.1 404"])
        #expect(responses[0].contains("\"path\":\"/echo/1\""))
        #expect(fixture.loggedOutcomes == ["complete", "complete", "complete"])
    }

    /// Found by an audit: a client pipelining requests without reading had every one answered
    /// into memory, 16 MB per connection.
    @Test func noRequestStartsWhileTheClientTakesNoMoreOfTheAnswers() throws {
        let fixture = try Fixture()
        try fixture.send("GET /echo/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(Self.responses(try fixture.output()).count == 1)
        fixture.channel.isWritable = false
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        try fixture.send(String(repeating: "GET /echo/2 HTTP/1.1\r\nHost: a\r\n\r\n", count: 3))
        #expect(try fixture.output().isEmpty, "nothing answered while the client takes nothing")
        fixture.channel.isWritable = true
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        let responses = Self.responses(try fixture.output())
        #expect(responses.count == 3 && responses.allSatisfy { $0.hasPrefix("HTTP/1.1 200") }, "\(responses)")
        #expect(fixture.channel.isActive)
    }

    @Test func aSessionCookieIsResolvedAndInjected() async throws {
        let fixture = try Fixture()
        let id = SessionID.random()
        _ = try await fixture.store.create(key: id.key, attributes: ["sub": "alice"])
        let cookie = fixture.policy.cookies.cookiePair(for: id)
        try fixture.send("GET /private/me HTTP/1.1\r\nHost: a\r\nCookie: theme=dark; \(cookie)\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 200"))
        #expect(out.contains("\"x-user-id\":\"alice\""))
        #expect(out.contains("\"cookie\":\"theme=dark\""), "the proxy's own cookie is not forwarded")
    }

    @Test func http10GetsAnHTTP11StatusLineAndCloses() throws {
        let fixture = try Fixture()
        try fixture.send("GET /echo/x HTTP/1.0\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 200"), "RFC 9110 §2.5")
        #expect(out.lowercased().contains("connection: close"))
        #expect(!fixture.channel.isActive)
    }

    @Test func aMalformedRequestIs400AndCloses() throws {
        let fixture = try Fixture()
        try fixture.send("GET /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 400"))
        #expect(out.contains("{\"error\":\"bad_request\"}"))
        #expect(out.lowercased().contains("connection: close"))
        #expect(!fixture.channel.isActive)
        #expect(fixture.loggedOutcomes == ["error"])
    }

    @Test func aHeadTooLargeIs431() throws {
        let fixture = try Fixture { $0.client.maxHeaderBytes = 256 }
        try fixture.send("GET /echo/x HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 400))\r\n\r\n")
        #expect(try fixture.output().hasPrefix("HTTP/1.1 431"))
        #expect(!fixture.channel.isActive)
    }

    @Test func aDeclaredBodyOverTheLimitIs413() throws {
        let fixture = try Fixture { $0.client.maxBodyBytes = 10 }
        try fixture.send("POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 413"))
        #expect(!fixture.channel.isActive)
    }

    @Test func headResponsesHaveNoBody() throws {
        let fixture = try Fixture()
        try fixture.send("HEAD /private/x HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try fixture.output()
        #expect(out.hasPrefix("HTTP/1.1 401"))
        #expect(out.hasSuffix("\r\n\r\n"), "no body after the head: \(out)")
    }

    /// A whole exchange is recorded; a partial head that never became a request is not one.
    /// (A client leaving while the store or the upstream works is covered end to end, in
    /// ``ExchangeRecordTests``: those waits leave the event loop, which an embedded one cannot.)
    @Test func aPartialHeadIsNoExchange() throws {
        let fixture = try Fixture()
        try fixture.send("GET /echo/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/2 HTT")
        try fixture.channel.close().wait()
        #expect(fixture.loggedOutcomes == ["complete"])
    }

    @Test func shutdownClosesAnIdleConnectionAtOnce() throws {
        let fixture = try Fixture()
        fixture.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!fixture.channel.isActive)
    }
}
