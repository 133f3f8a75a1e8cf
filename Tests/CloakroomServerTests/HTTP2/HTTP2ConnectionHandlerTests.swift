import CloakroomConfig
import CloakroomSessions
import NIOCore
import NIOHTTP2
import Testing

@testable import CloakroomServer

/// The HTTP/2 connection handler on an `EmbeddedChannel`, raw frames both ways: responses in
/// as few frames as they allow, stream errors that stay stream errors, streams past the limit
/// refused one by one, the client timeouts, every error answer whole, the graceful shutdown.
@Suite struct HTTP2ConnectionHandlerTests {
    static let protocolError: UInt32 = 0x1, refusedStream: UInt32 = 0x7, cancel: UInt32 = 0x8, noError: UInt32 = 0x0

    // MARK: Responses in as few frames as possible

    @Test func aSmallResponseIsHeadersAndOneDataWithEndStream() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        let response = try fixture.exchange(1)
        #expect(response.status == 200)
        #expect(response.frames == ["HEADERS", "DATA+END"])
        #expect(response.text.contains("\"path\":\"/echo/x\""))
        #expect(response.value("x-request-id") != nil)
        #expect(fixture.channel.isActive)
        #expect(fixture.loggedOutcomes == ["complete"])
    }

    @Test func aBodilessResponseIsOneHeadersWithEndStream() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        let response = try fixture.exchange(1, RawHTTP2Client.requestFields(method: "HEAD"))
        #expect(response.status == 200)
        #expect(response.frames == ["HEADERS+END"])
        #expect(response.body.isEmpty)
    }

    @Test func manyStreamsInOneReadAreAnsweredInOneFlush() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        var bytes: [UInt8] = []
        for stream in stride(from: UInt32(1), through: 39, by: 2) { bytes += fixture.client.request(stream, RawHTTP2Client.requestFields(path: "/echo/\(stream)")) }
        let responses = fixture.responses(try fixture.send(bytes))
        #expect(responses.count == 20)
        for (stream, response) in responses {
            #expect(response.status == 200 && response.frames == ["HEADERS", "DATA+END"])
            #expect(response.text.contains("\"path\":\"/echo/\(stream)\""))
        }
    }

    @Test func cookieCrumbsAreJoinedAndTheSessionCookieRead() async throws {
        let fixture = try HTTP2Fixture()
        let id = SessionID.random()
        _ = try await fixture.store.create(key: id.key, attributes: ["sub": "alice"])
        let cookie = fixture.policy.cookies.cookiePair(for: id)
        try fixture.open()
        let response = try fixture.exchange(
            1, RawHTTP2Client.requestFields(path: "/private/me", extra: [("cookie", "theme=dark"), ("cookie", cookie), ("cookie", "lang=en")]))
        #expect(response.status == 200)
        #expect(response.text.contains("\"x-user-id\":\"alice\""))
        // The upstream head joins the crumbs into one line (HTTP1Writer); the echo shows them as fields.
        #expect(response.text.contains("\"cookie\":[\"theme=dark\",\"lang=en\"]"), "\(response.text)")
        #expect(!response.text.contains(cookie))
    }

    @Test func theSoleSessionCookieIsReadFromItsLine() async throws {
        let fixture = try HTTP2Fixture()
        let id = SessionID.random()
        _ = try await fixture.store.create(key: id.key, attributes: ["sub": "bob"])
        try fixture.open()
        let fields = RawHTTP2Client.requestFields(path: "/private/me", extra: [("user-agent", "t"), ("cookie", fixture.policy.cookies.cookiePair(for: id))])
        let response = try fixture.exchange(1, fields)
        #expect(response.status == 200)
        #expect(response.text.contains("\"x-user-id\":\"bob\""))
        #expect(response.text.contains("\"user-agent\":\"t\""))
        #expect(!response.text.contains("\"cookie\""))
    }

    @Test func hostStandsInForAMissingAuthority() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        let fields = [(":method", "GET"), (":scheme", "https"), (":path", "/echo/h"), ("host", "api.example")]
        let response = try fixture.exchange(1, fields)
        #expect(response.status == 200)
        #expect(response.text.contains("\"host\":\"api.example\""))
        let none = try fixture.exchange(3, [(":method", "GET"), (":scheme", "https"), (":path", "/echo/h")])
        #expect(none.status == 400, "no authority at all")
        #expect(none.frames == ["HEADERS", "DATA+END"])
    }

    // MARK: Stream errors stay stream errors (RFC 9113 §5.4.2)

    @Test func aConnectionSpecificFieldResetsThatStreamOnly() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        var bytes = fixture.client.request(1, RawHTTP2Client.requestFields(extra: [("connection", "keep-alive")]))
        bytes += fixture.client.request(3)
        let responses = fixture.responses(try fixture.send(bytes))
        #expect(responses[1]?.reset == Self.protocolError)
        #expect(responses[1]?.status == 400)
        #expect(responses[3]?.status == 200)
        #expect(fixture.goAway == nil)
        #expect(fixture.channel.isActive)
        #expect(try fixture.exchange(5).status == 200, "the connection keeps serving")
    }

    @Test(arguments: [
        ("leading space", RawHTTP2Client.requestFields(extra: [("x-a", " value")])),
        ("trailing tab", RawHTTP2Client.requestFields(extra: [("x-a", "value\t")])),
        ("userinfo", RawHTTP2Client.requestFields(authority: "user@example.com")),
        ("empty authority", RawHTTP2Client.requestFields(authority: "")),
        ("scheme not a scheme", RawHTTP2Client.requestFields(scheme: "ht tp")),
        ("scheme starting with a digit", RawHTTP2Client.requestFields(scheme: "1http")),
        ("method not a token", RawHTTP2Client.requestFields(method: "GE(T")),
        ("path not origin form", RawHTTP2Client.requestFields(path: "echo/x")),
        ("asterisk for GET", RawHTTP2Client.requestFields(path: "*")),
        ("host names another authority", RawHTTP2Client.requestFields(extra: [("host", "other.example")])),
        ("uppercase field name", RawHTTP2Client.requestFields(extra: [("X-Upper", "1")])),
        ("NUL in a value", RawHTTP2Client.requestFields(extra: [("x-a", "a\u{0}b")])),
        ("another control character in a value", RawHTTP2Client.requestFields(extra: [("x-a", "a\u{1}b")])),
        ("DEL in a value", RawHTTP2Client.requestFields(extra: [("x-a", "a\u{7F}b")])),
        ("te other than trailers", RawHTTP2Client.requestFields(extra: [("te", "gzip")])),
        ("pseudo-header after a field", [(":method", "GET"), ("x-a", "1"), (":scheme", "https"), (":path", "/"), (":authority", "a")]),
        ("unknown pseudo-header", RawHTTP2Client.requestFields(extra: []) + [(":foo", "bar")]),
        ("missing :scheme", [(":method", "GET"), (":path", "/echo/x"), (":authority", "a")]),
    ] as [(String, [(String, String)])])
    func malformedRequestsAreResetWithProtocolError(name: String, fields: [(String, String)]) throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        let response = try fixture.exchange(1, fields)
        #expect(response.reset == Self.protocolError, "\(name): \(response.frames)")
        #expect(response.status == 400, "\(name): a 400 the client can read comes first (RFC 9113 §8.1.1 allows it)")
        #expect(response.frames == ["HEADERS", "DATA+END", "RST=1"], "\(name): the whole answer, then the stream error")
        #expect(response.text == #"{"error":"bad_request"}"#)
        #expect(fixture.goAway == nil, "\(name)")
        #expect(try fixture.exchange(3).status == 200, "\(name): the connection keeps serving")
    }

    @Test func aTabInsideAValueIsAccepted() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        #expect(try fixture.exchange(1, RawHTTP2Client.requestFields(extra: [("x-a", "a\tb")])).status == 200)
    }

    @Test func hostEqualToTheAuthorityIsAccepted() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        #expect(try fixture.exchange(1, RawHTTP2Client.requestFields(extra: [("host", "EXAMPLE.com")])).status == 200)
        let star = try fixture.exchange(3, RawHTTP2Client.requestFields(method: "OPTIONS", path: "*"))
        #expect(star.reset == nil && star.status != nil, "\(star)")
    }

    // MARK: Concurrency limit (RFC 9113 §5.1.2)

    @Test func streamsPastTheLimitAreRefusedOneByOne() throws {
        let fixture = try HTTP2Fixture { $0.client.maxConcurrentStreams = 2 }
        let opening = try fixture.open()
        let settings = try #require(opening.first { $0.type == RawFrame.Kind.settings && $0.flags == 0 })
        #expect(settings.settings.first { $0.0 == 0x3 }?.1 == 2, "the advertised limit")
        // Two requests held open by a body still to come, then three more streams.
        var bytes: [UInt8] = []
        for stream: UInt32 in [1, 3, 5, 7, 9] {
            bytes += fixture.client.request(stream, RawHTTP2Client.requestFields(method: "POST", extra: [("content-length", "2")]), open: true)
        }
        let responses = fixture.responses(try fixture.send(bytes))
        #expect(responses[5]?.reset == Self.refusedStream)
        #expect(responses[7]?.reset == Self.refusedStream)
        #expect(responses[9]?.reset == Self.refusedStream)
        #expect(fixture.goAway == nil)
        #expect(fixture.channel.isActive)
        // The echo answered 1 and 3 without their bodies; they end once the bodies come.
        let finished = fixture.responses(fixture.frames)
        #expect(finished[1]?.status == 200 && finished[3]?.status == 200)
        _ = try fixture.send(RawFrame.data(1, [1, 2], end: true).bytes + RawFrame.data(3, [1, 2], end: true).bytes)
        #expect(try fixture.exchange(11).status == 200, "room again once streams closed")
    }

    @Test func aFloodOfRefusedStreamsEndsTheConnection() throws {
        let fixture = try HTTP2Fixture { $0.client.maxConcurrentStreams = 1 }
        try fixture.open()
        var bytes = fixture.client.request(1, RawHTTP2Client.requestFields(method: "POST"), open: true)
        for index in 1...(HTTP2ConnectionHandler.refusalLimit + 5) {
            bytes += fixture.client.request(UInt32(2 * index + 1), RawHTTP2Client.requestFields(method: "POST"), open: true)
        }
        try fixture.send(bytes)
        #expect(fixture.goAway?.errorCode == 0xB, "ENHANCE_YOUR_CALM")
        #expect(!fixture.channel.isActive)
    }

    // MARK: Client timeouts

    @Test func aConnectionThatNeverSendsARequestIsClosed() throws {
        let fixture = try HTTP2Fixture { $0.client.headerTimeout = .seconds(5) }
        try fixture.open()
        _ = try fixture.advance(.seconds(4))
        #expect(fixture.channel.isActive)
        _ = try fixture.advance(.seconds(2))
        #expect(fixture.goAway?.errorCode == Self.noError)
        #expect(fixture.goAway?.lastStreamID == 0)
        #expect(!fixture.channel.isActive)
    }

    @Test func idleTimeoutClosesAConnectionWithNoOpenStream() throws {
        let fixture = try HTTP2Fixture { $0.client.idleTimeout = .seconds(30) }
        try fixture.open()
        #expect(try fixture.exchange(1).status == 200)
        _ = try fixture.advance(.seconds(20))
        #expect(try fixture.exchange(3).status == 200, "a request restarts the idle time")
        _ = try fixture.advance(.seconds(29))
        #expect(fixture.channel.isActive)
        _ = try fixture.advance(.seconds(2))
        #expect(fixture.goAway?.errorCode == Self.noError)
        #expect(fixture.goAway?.lastStreamID == 3)
        #expect(!fixture.channel.isActive)
    }

    @Test func anOpenStreamKeepsTheConnectionFromIdling() throws {
        let fixture = try HTTP2Fixture {
            $0.client.idleTimeout = .seconds(10)
            $0.client.bodyTimeout = .seconds(3600)
        }
        try fixture.open()
        try fixture.openLogin(1)
        _ = try fixture.advance(.seconds(30))
        #expect(fixture.channel.isActive)
        #expect(fixture.responses(fixture.frames)[1] == nil, "nothing answered yet")
        try fixture.send(RawFrame.rst(1, code: Self.cancel).bytes)
        _ = try fixture.advance(.seconds(9))
        #expect(fixture.channel.isActive)
        _ = try fixture.advance(.seconds(2))
        #expect(fixture.goAway?.lastStreamID == 1)
        #expect(!fixture.channel.isActive)
        #expect(fixture.loggedOutcomes == ["client_closed"])
    }

    @Test func aHeaderBlockLeftWithoutEndHeadersIsBoundedByHeaderTimeout() throws {
        let fixture = try HTTP2Fixture {
            $0.client.headerTimeout = .seconds(5)
            $0.client.idleTimeout = .seconds(300)
        }
        try fixture.open()
        #expect(try fixture.exchange(1).status == 200)
        try fixture.send(fixture.client.headers(3, RawHTTP2Client.requestFields(), end: true, endHeaders: false).bytes)
        _ = try fixture.advance(.seconds(4))
        #expect(fixture.channel.isActive)
        _ = try fixture.advance(.seconds(2))
        #expect(fixture.goAway?.errorCode == Self.noError)
        #expect(fixture.goAway?.lastStreamID == 1, "stream 3 never started")
        #expect(!fixture.channel.isActive)
    }

    @Test func aFrameCutShortIsBoundedByHeaderTimeout() throws {
        let fixture = try HTTP2Fixture {
            $0.client.headerTimeout = .seconds(5)
            $0.client.idleTimeout = .seconds(300)
        }
        try fixture.open()
        #expect(try fixture.exchange(1).status == 200)
        let headers = fixture.client.headers(3, RawHTTP2Client.requestFields()).bytes
        try fixture.send(Array(headers.prefix(12)))
        _ = try fixture.advance(.seconds(6))
        #expect(!fixture.channel.isActive)
    }

    @Test func aStalledBodyGets408AndItsStreamIsReset() throws {
        let fixture = try HTTP2Fixture { $0.client.bodyTimeout = .seconds(20) }
        try fixture.open()
        try fixture.openLogin(1)
        _ = try fixture.advance(.seconds(15))
        try fixture.send(RawFrame.data(1, Array("mo".utf8)).bytes)
        _ = try fixture.advance(.seconds(15))
        #expect(fixture.responses(fixture.frames)[1] == nil, "body bytes came 15 s ago")
        _ = try fixture.advance(.seconds(6))
        let response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.status == 408)
        #expect(response.frames == ["HEADERS", "DATA+END", "RST=0"], "then the stream is reset at once: the client is stalled")
        #expect(response.text == "{\"error\":\"request_timeout\"}")
        #expect(fixture.channel.isActive, "only the stream ends")
        #expect(try fixture.exchange(3).status == 200)
        #expect(fixture.loggedOutcomes == ["timeout", "complete"])
    }

    /// HEADERS without END_STREAM, then nothing: the body that never starts times out from the
    /// head, with or without a `content-length` (a stream the proxy holds to see whether DATA
    /// follows included).
    @Test(arguments: [[], [("content-length", "5")]])
    func aBodyThatNeverStartsGets408(_ extra: [(String, String)]) throws {
        let fixture = try HTTP2Fixture { $0.client.bodyTimeout = .seconds(20) }
        try fixture.open()
        let fields = RawHTTP2Client.requestFields(method: "POST", path: "/login", extra: extra)
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes)
        _ = try fixture.advance(.seconds(19))
        #expect(fixture.responses(fixture.frames)[1] == nil)
        _ = try fixture.advance(.seconds(2))
        let response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.status == 408)
        #expect(response.text == "{\"error\":\"request_timeout\"}")
        #expect(fixture.loggedOutcomes == ["timeout"])
    }

    @Test func aBodyHeldBackByTheProxyIsNotTimedOut() throws {
        // A request whose body the client cannot send (its window is used up while the proxy
        // is not reading) is the proxy's wait, not the client's stall: covered end to end in
        // HTTP2EndToEndTests; here, a body that ended is never timed out.
        let fixture = try HTTP2Fixture { $0.client.bodyTimeout = .seconds(5) }
        try fixture.open()
        _ = try fixture.exchange(1, RawHTTP2Client.requestFields(method: "POST"), body: [1, 2, 3])
        _ = try fixture.advance(.seconds(10))
        #expect(fixture.loggedOutcomes == ["complete"])
    }

    // MARK: Error answers reach the client whole

    @Test func a413ReachesTheClientWholeBeforeItsReset() throws {
        let fixture = try HTTP2Fixture { $0.client.maxBodyBytes = 10 }
        try fixture.open()
        let fields = RawHTTP2Client.requestFields(method: "POST", extra: [("content-length", "11")])
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes)
        var response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.status == 413)
        #expect(response.frames == ["HEADERS", "DATA+END"])
        #expect(response.text == "{\"error\":\"body_too_large\"}")
        #expect(response.value("content-length") == String(response.body.count))
        _ = try fixture.advance(.seconds(3))
        response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.frames == ["HEADERS", "DATA+END", "RST=0"], "the client did not finish its body in time: stop it")
        #expect(fixture.channel.isActive)
    }

    @Test func aClientThatFinishesItsUploadAfterAnEarlyAnswerIsNotReset() throws {
        let fixture = try HTTP2Fixture { $0.client.maxBodyBytes = 10 }
        try fixture.open()
        let fields = RawHTTP2Client.requestFields(method: "POST", extra: [("content-length", "11")])
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes + RawFrame.data(1, Array(repeating: 1, count: 6)).bytes)
        _ = try fixture.advance(.seconds(1))
        try fixture.send(RawFrame.data(1, Array(repeating: 1, count: 5), end: true).bytes)
        _ = try fixture.advance(.seconds(5))
        let response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.status == 413)
        #expect(response.frames == ["HEADERS", "DATA+END"], "the stream ended cleanly")
        #expect(fixture.goAway == nil)
    }

    @Test func aClientThatKeepsSendingAfterAnEarlyAnswerIsReset() throws {
        let fixture = try HTTP2Fixture { $0.client.maxBodyBytes = 10 }
        try fixture.open()
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(method: "POST", path: "/private/x"), end: false).bytes)
        #expect(fixture.responses(fixture.frames)[1]?.status == 401)
        // 1 MiB may follow, as fast as the windows let it; past that the stream is reset.
        let chunk = Array(repeating: UInt8(1), count: 16_384)
        for _ in 0..<80 {
            try fixture.send(RawFrame.data(1, chunk).bytes)
            if fixture.responses(fixture.frames)[1]?.reset != nil { break }
        }
        #expect(fixture.responses(fixture.frames)[1]?.frames == ["HEADERS", "DATA+END", "RST=0"])
        #expect(fixture.goAway == nil, "the windows were credited for every dropped byte")
    }

    @Test func aCounted413ReachesTheClientWhole() throws {
        let fixture = try HTTP2Fixture { $0.client.maxBodyBytes = 10 }
        try fixture.open()
        let fields = RawHTTP2Client.requestFields(method: "POST", path: "/private/x")
        try fixture.send(
            fixture.client.headers(1, fields, end: false).bytes + RawFrame.data(1, Array(repeating: 1, count: 8)).bytes
                + RawFrame.data(1, Array(repeating: 1, count: 8)).bytes)
        let response = fixture.responses(fixture.frames)[1]
        #expect(response?.status == 401 || response?.status == 413)
        #expect(response?.frames.prefix(2) == ["HEADERS", "DATA+END"])
        #expect(fixture.channel.isActive)
    }

    @Test func anErrorAnswerWaitsForTheClientsWindowBeforeTheReset() throws {
        let fixture = try HTTP2Fixture { $0.client.maxBodyBytes = 10 }
        // The client's stream window: 5 bytes, less than the error body.
        try fixture.send(RawFrame.preface + RawFrame.settings([(0x4, 5)]).bytes + RawFrame.settings(ack: true).bytes)
        let fields = RawHTTP2Client.requestFields(method: "POST", extra: [("content-length", "11")])
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes)
        var response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.status == 413)
        #expect(response.reset == nil, "no reset while the body waits for the window: \(response.frames)")
        #expect(response.body.count == 5)
        _ = try fixture.advance(.seconds(3))
        #expect(fixture.responses(fixture.frames)[1]?.reset == nil, "no reset while the body waits for the window")
        try fixture.send(RawFrame.windowUpdate(1, 100).bytes)
        response = try #require(fixture.responses(fixture.frames)[1])
        #expect(response.text == "{\"error\":\"body_too_large\"}")
        #expect(response.ended)
        #expect(response.frames.last == "RST=0")
    }

    // MARK: Shutdown

    @Test func shutdownWithNoStreamSendsGoAwayAndCloses() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        #expect(try fixture.exchange(1).status == 200)
        fixture.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        _ = try fixture.read()
        #expect(fixture.goAway?.errorCode == Self.noError && fixture.goAway?.lastStreamID == 1)
        #expect(!fixture.channel.isActive)
    }

    @Test func shutdownLetsOpenStreamsFinish() throws {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        try fixture.openLogin(1)
        try fixture.openLogin(3)
        fixture.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        _ = try fixture.read()
        #expect(fixture.goAway?.lastStreamID == 3 && fixture.goAway?.errorCode == Self.noError, "the last stream accepted")
        #expect(fixture.channel.isActive, "two streams still open")
        let late = fixture.responses(try fixture.send(fixture.client.request(5)))[5]
        #expect(late == nil, "a stream past the GOAWAY is not processed")
        try fixture.send(RawFrame.rst(1, code: Self.cancel).bytes)
        #expect(fixture.channel.isActive)
        try fixture.send(RawFrame.data(3, Array("mo".utf8)).bytes)
        _ = try fixture.advance(.seconds(30))
        #expect(fixture.channel.isActive, "no idle timeout while a stream is open")
        try fixture.send(RawFrame.rst(3, code: Self.cancel).bytes)
        #expect(!fixture.channel.isActive, "closed once the last stream ended")
    }
}
