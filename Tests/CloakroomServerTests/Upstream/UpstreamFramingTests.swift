import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import CloakroomServer

/// The one decision on how a request body is delimited upstream, and the connection that holds
/// the body to it.
@Suite struct UpstreamFramingTests {
    @Test func theDecisionForEveryKindOfRequest() {
        typealias F = UpstreamFraming
        // HTTP/1.1: a body has a length or chunks, or is not there.
        #expect(F.decide(method: .post, contentLength: 12, chunked: false, bodyMayFollow: false) == .length(12))
        #expect(F.decide(method: .post, contentLength: nil, chunked: true, bodyMayFollow: false) == .chunked)
        #expect(F.decide(method: .get, contentLength: nil, chunked: false, bodyMayFollow: false) == .none)
        #expect(F.decide(method: .get, contentLength: 0, chunked: false, bodyMayFollow: false) == .none)
        #expect(F.decide(method: .get, contentLength: 3, chunked: false, bodyMayFollow: false) == .length(3))
        // Methods whose content means something get an explicit zero.
        for method in [HTTPRequest.Method.post, .put, .patch] {
            #expect(F.decide(method: method, contentLength: nil, chunked: false, bodyMayFollow: false) == .length(0))
            #expect(F.decide(method: method, contentLength: 0, chunked: false, bodyMayFollow: true) == .length(0))
        }
        // HTTP/2: without content-length and with the stream open, the length is unknown.
        #expect(F.decide(method: .post, contentLength: nil, chunked: false, bodyMayFollow: true) == .chunked)
        #expect(F.decide(method: .get, contentLength: nil, chunked: false, bodyMayFollow: true) == .chunked)
        #expect(F.decide(method: .delete, contentLength: nil, chunked: false, bodyMayFollow: false) == .none)
        #expect(F.decide(method: .put, contentLength: 70_000, chunked: false, bodyMayFollow: true) == .length(70_000))
        #expect(!UpstreamFraming.none.hasBody && !UpstreamFraming.length(0).hasBody)
        #expect(UpstreamFraming.length(1).hasBody && UpstreamFraming.chunked.hasBody)
    }

    @Test func declaredLengthsAreDigitsOnly() {
        #expect(UpstreamFraming.parseLength("0") == 0)
        #expect(UpstreamFraming.parseLength("123456789012345678") == 123_456_789_012_345_678)
        for bad in ["", "+5", "-1", "5 ", " 5", "0x5", "1,1", "1234567890123456789", "５"] {
            #expect(UpstreamFraming.parseLength(bad) == nil, "\(bad)")
        }
    }

    // MARK: The connection holds the body to its framing

    final class Delegate: UpstreamExchangeDelegate {
        var failures: [UpstreamFailure] = []
        func upstreamResponseHead(_ head: UpstreamResponseHead) {}
        func upstreamResponseBody(_ buffer: ByteBuffer) {}
        func upstreamResponseEnd() {}
        func upstreamReadComplete() {}
        func upstreamFailed(_ failure: UpstreamFailure) { failures.append(failure) }
        func upstreamBecameWritable() {}
        var downstreamWritable: Bool { true }
    }

    static func upstreamRequest(_ framing: UpstreamFraming) throws -> UpstreamRequest {
        let configuration = Configuration(
            listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))], session: SessionSettings(),
            routes: [Route(path: "/", upstream: "api", auth: .none)], upstreams: ["api": Upstream(kind: .echo)])
        let store = MemorySessionStore(
            maxSessions: 10, timeouts: SessionTimeouts(idle: .seconds(60), absolute: .seconds(60), touchInterval: .seconds(1)),
            clock: ManualWallClock())
        let policy = ProxyPolicy(
            configuration: configuration, store: store, codec: SessionCookieCodec(secrets: [Array(repeating: 7, count: 32)]),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        var request = HTTPRequest(method: .post, scheme: "http", authority: "api", path: "/up", headerFields: [:])
        request.headerFields[.contentLength] = "999"  // the client's: never forwarded
        let exchange = try policy.begin(&request, client: ClientInfo(address: "192.0.2.1", isSecure: false), requestID: "rid").get()
        let filter = policy.stripUpstreamRequest(&request)
        let additions = policy.upstreamAdditions(for: exchange, authority: request.authority)
        return UpstreamRequest(
            request: request, lines: ByteBuffer(), filter: filter, additions: additions, framing: framing, upgrade: nil, isHEAD: false)
    }

    /// A connection on an embedded channel, with the head of a request framed as `framing` written.
    static func begin(_ framing: UpstreamFraming) throws -> (EmbeddedChannel, UpstreamConnection, Delegate, String) {
        let channel = EmbeddedChannel()
        let connection = UpstreamConnection(channel: channel, targetIndex: 0)
        try channel.pipeline.syncOperations.addHandler(connection)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let delegate = Delegate()
        connection.begin(delegate, request: try upstreamRequest(framing))
        connection.flush()
        let head = try #require(try channel.readOutbound(as: ByteBuffer.self))
        return (channel, connection, delegate, String(buffer: head))
    }

    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func aDeclaredLengthIsWrittenOnceAndHeldTo() throws {
        let (channel, connection, _, head) = try Self.begin(.length(5))
        #expect(head.hasSuffix("Content-Length: 5\r\n\r\n"))
        #expect(head.components(separatedBy: "Content-Length").count == 2, "the client's 999 is gone: \(head)")
        #expect(connection.writeBody(ByteBuffer(string: "abc")))
        #expect(!connection.writeBody(ByteBuffer(string: "def")), "past the declared length")
        connection.flush()
        #expect(try Self.written(channel) == "abc", "nothing past the length reaches the socket")
        #expect(connection.isClosed && !connection.isReusable)
    }

    @Test func aShortBodyClosesTheConnection() throws {
        let (_, connection, _, _) = try Self.begin(.length(5))
        #expect(connection.writeBody(ByteBuffer(string: "abcd")))
        #expect(!connection.writeEnd())
        #expect(connection.isClosed && !connection.isReusable)
    }

    @Test func noFramingMeansNoBody() throws {
        let (channel, connection, _, head) = try Self.begin(.none)
        #expect(!head.contains("Content-Length") && !head.contains("Transfer-Encoding"))
        #expect(!connection.writeBody(ByteBuffer(string: "GET /smuggled HTTP/1.1\r\n\r\n")))
        #expect(try Self.written(channel) == "")
        #expect(connection.isClosed)
    }

    @Test func chunksAreTheProxysOwn() throws {
        let (channel, connection, _, head) = try Self.begin(.chunked)
        #expect(head.hasSuffix("Transfer-Encoding: chunked\r\n\r\n"))
        #expect(connection.writeBody(ByteBuffer(string: "0\r\n\r\nGET / HTTP/1.1")))
        #expect(connection.writeEnd())
        connection.flush()
        #expect(try Self.written(channel) == "13\r\n0\r\n\r\nGET / HTTP/1.1\r\n0\r\n\r\n")
        #expect(!connection.isClosed)
    }

    /// Reusable only when the request was written whole and the whole response read.
    @Test func reusableOnlyAtAMessageBoundary() throws {
        let (channel, connection, _, _) = try Self.begin(.length(2))
        #expect(connection.writeBody(ByteBuffer(string: "ok")))
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
        #expect(!connection.isReusable, "the request's end was not written yet")
        #expect(connection.writeEnd())
        #expect(connection.isReusable)
    }
}
