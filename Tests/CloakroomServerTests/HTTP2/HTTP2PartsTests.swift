import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CloakroomServer

/// The pure parts of the HTTP/2 server: request heads, response heads, the inbound window,
/// the connection lifecycle, the frame scanner and the SETTINGS rewrite.
@Suite struct HTTP2PartsTests {
    // MARK: Request heads

    static func head(_ fields: [(String, String)], secure: Bool = true, endStream: Bool = true) -> Result<ClientRequestHead, HTTP2RequestHead.Failure> {
        var lines = ByteBuffer()
        return HTTP2RequestHead.make(HPACKHeaders(fields), secure: secure, endStream: endStream, lines: &lines)
    }

    @Test func aHeadBecomesTheRequestThePolicyReads() throws {
        let fields = [
            (":method", "POST"), (":scheme", "http"), (":path", "/a?b=1"), (":authority", "api.example:8443"), ("accept", "text/html"),
            ("user-agent", "ua"), ("cookie", "a=1"), ("content-length", "3"), ("x-request-id", "rid"), ("cookie", "b=2"),
            ("content-type", "text/plain"), ("expect", "100-continue"),
        ]
        let head = try Self.head(fields, endStream: false).get()
        #expect(head.request.method == .post && head.request.path == "/a?b=1")
        #expect(head.request.scheme == "https", "the listener's scheme")
        #expect(head.request.authority == "api.example:8443")
        #expect(head.request.headerFields[.accept] == "text/html", "a field the policy reads")
        #expect(head.request.headerFields[.userAgent] == "ua", "read for the session a request may create")
        #expect(head.request.headerFields.count == 2)
        #expect(String(buffer: head.lines) == "cookie: a=1\r\ncontent-length: 3\r\nx-request-id: rid\r\ncookie: b=2\r\ncontent-type: text/plain\r\nexpect: 100-continue\r\n")
        #expect(head.cookieLines == 2)
        #expect(String(buffer: head.lines.getSlice(at: head.firstCookieValue.lowerBound, length: head.firstCookieValue.count)!) == "a=1")
        #expect(head.framing.contentLength == "3" && head.framing.requestID == "rid" && head.framing.expect == "100-continue")
        #expect(head.framing.contentType == "text/plain")
        #expect(head.bodyMayFollow && head.version.major == 2 && head.keepAlive)
    }

    @Test func hostStandsInForTheAuthority() throws {
        let head = try Self.head([(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "h.example")]).get()
        #expect(head.request.authority == "h.example")
        #expect(head.lines.readableBytes == 0, "host left the fields")
        #expect(!head.bodyMayFollow)
        let same = try Self.head([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "A.example"), ("host", "a.EXAMPLE")]).get()
        #expect(same.request.authority == "A.example")
    }

    @Test(arguments: [
        ([(":method", "GET"), (":scheme", "https"), (":path", "/")], "no :authority and no host"),
        ([(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "a"), ("host", "b")], "repeated host"),
        // Beside :authority too, naming it or not (found by an audit: accepted, routed by :authority).
        ([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a"), ("host", "a"), ("host", "evil")], "repeated host"),
        ([(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a"), ("host", "a"), ("host", "a")], "repeated host"),
        ([(":method", "CONNECT"), (":authority", "a:443")], "CONNECT is not supported"),
    ] as [([(String, String)], String)])
    func unusableHeadsAre400(fields: [(String, String)], detail: String) {
        #expect(Self.head(fields).failureValue == .badRequest(detail))
    }

    @Test(arguments: [
        [("x-a", " v")], [("x-a", "v ")], [("x-a", "\tv")], [("x-a", "v\t")],
        // Two lengths, as on HTTP/1.1 (found by an audit), and lengths that are not digits.
        [("content-length", "5"), ("content-length", "6")], [("content-length", "5"), ("content-length", "5")],
        [("content-length", "5, 5")], [("content-length", "+5")], [("content-length", "")],
        [("content-length", "99999999999999999999")],
    ])
    func surroundingWhitespaceIsMalformed(extra: [(String, String)]) {
        let fields = [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a")] + extra
        guard case .malformed = Self.head(fields).failureValue else {
            Issue.record("accepted \(extra)")
            return
        }
    }

    /// RFC 9113 §8.2 field rules, checked in Cloakroom's pass (NIO's header validation is off).
    @Test func fieldRules() {
        #expect(HTTP2FieldRules.problem(name: "x-ok", value: "a b") == nil)
        #expect(HTTP2FieldRules.problem(name: "te", value: "trailers") == nil)
        #expect(HTTP2FieldRules.problem(name: "x-empty", value: "") == nil)
        for (name, value) in [
            ("X-Up", "v"), ("x a", "v"), ("", "v"), ("x-a", "a\u{0}b"), ("x-a", "a\nb"), ("x-a", "a\rb"), ("x-a", " v"),
            ("connection", "close"), ("keep-alive", "5"), ("proxy-connection", "x"), ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"), ("te", "gzip"),
        ] {
            #expect(HTTP2FieldRules.problem(name: name, value: value) != nil, "\(name): \(value)")
        }
        #expect(HTTP2FieldRules.trailerProblem([("x-checksum", "abc")]) == nil)
        #expect(HTTP2FieldRules.trailerProblem([(":status", "200")]) != nil)
        #expect(HTTP2FieldRules.trailerProblem([("Connection", "close")]) != nil)
        #expect(HTTP2FieldRules.isPath("/a?b=%20"))
        #expect(!HTTP2FieldRules.isPath("/a b") && !HTTP2FieldRules.isPath("") && !HTTP2FieldRules.isPath("/é"))
        #expect(!HTTP2FieldRules.isPath("/admin/export#x"), "a fragment")
    }

    @Test func authorityAndSchemeSyntax() {
        for valid in ["example.com:443", "[::1]:8080", "127.0.0.1", "example.com.", "a.test:", "[2001:db8::1]", "[::ffff:10.0.0.1]:443"] {
            #expect(RequestAuthority.isValid(valid), "\(valid)")
        }
        for invalid in [
            "user@example.com", "", "a/b", "a b", "ex\u{e4}mple", "a.test:abc", "a.test x", ".wild.test", "a..wild.test",
            "[::1", "[::1]x", "[]", "a:b:c", "x.wild.test/evil",
            // Found by an audit: brackets around a name or an IPv4 address, IPvFuture, escapes.
            "[admin.example.com]", "[admin.example.com]:443", "[1.2.3.4]", "[v1.fe]", "[fe80::1%25eth0]", "admin.example.co%6d",
        ] {
            #expect(!RequestAuthority.isValid(invalid), "\(invalid)")
        }
        #expect(HTTP2RequestHead.isScheme("https") && HTTP2RequestHead.isScheme("coap+tcp") && HTTP2RequestHead.isScheme("a.b-c"))
        #expect(!HTTP2RequestHead.isScheme("") && !HTTP2RequestHead.isScheme("1x") && !HTTP2RequestHead.isScheme("ht tp") && !HTTP2RequestHead.isScheme("h:"))
    }

    // MARK: Response heads

    @Test func responseHeadsAsHeaderBlocks() throws {
        var response = HTTPResponse(status: .ok)
        response.headerFields[.contentType] = "text/plain"
        response.headerFields[HTTPField.Name("X-Custom")!] = "1"
        response.headerFields[.connection] = "close"
        let headers = HTTP2ResponseHead.headers(response)
        #expect(Array(headers.map { "\($0.name)=\($0.value)" }) == [":status=200", "content-type=text/plain", "x-custom=1"])
        let bytes = ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nServer: be \r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nX-Request-Id: theirs\r\nCache-Control:  max-age=1\r\n\r\n")
        let upstream = UpstreamResponseHead(bytes: bytes, code: 404, keepAlive: true, hasContentLength: true, needsPolicy: false)
        let fromLines = HTTP2ResponseHead.headers(upstream, requestID: "ours")
        #expect(Array(fromLines.map { "\($0.name)=\($0.value)" }) == [":status=404", "server=be", "content-length=2", "cache-control=max-age=1", "x-request-id=ours"])
    }

    // MARK: Inbound window

    @Test func theWindowReopensAsBytesAreTaken() {
        var window = HTTP2InboundWindow(target: 65535)
        #expect(window.windowChanged(to: 65535) == nil)
        #expect(window.windowChanged(to: 40000) == nil, "above half: nothing yet")
        #expect(window.windowChanged(to: 30000) == 35535, "below half: back to the target")
        #expect(window.windowChanged(to: 65535) == nil)
        // Held bytes count as given back until taken.
        window.hold(40000)
        #expect(window.windowChanged(to: 25535) == nil, "40 000 held: nothing to give back yet")
        #expect(window.took(10000) == nil)
        #expect(window.took(30000) == 40000)
        #expect(window.took(0) == nil, "counted as sent: no second increment before NIO reports")
    }

    @Test func theTargetFollowsTheInitialWindowSetting() {
        var window = HTTP2InboundWindow(target: 65535)
        _ = window.windowChanged(to: 65535)
        #expect(window.targetChanged(by: 65536) == nil, "the setting moved the window with the target")
        #expect(window.target == 131071)
        #expect(window.windowChanged(to: 30000) == 101071)
    }

    // MARK: Lifecycle

    @Test func theLifecycleAsksForTheRightTimeouts() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var lifecycle = HTTP2ConnectionLifecycle(headerTimeout: .seconds(10), idleTimeout: .seconds(75), now: start)
        #expect(lifecycle.deadline == start + .seconds(10), "before the first request: header_timeout")
        lifecycle.streamOpened(HTTP2StreamID(1))
        #expect(lifecycle.deadline == nil)
        #expect(lifecycle.streamClosed(now: start + .seconds(1)) == .none)
        #expect(lifecycle.deadline == start + .seconds(76), "no stream open: idle_timeout")
        lifecycle.headerBlock(pending: true, now: start + .seconds(2))
        #expect(lifecycle.deadline == start + .seconds(12))
        #expect(lifecycle.expired(now: start + .seconds(11)) == .none)
        #expect(lifecycle.expired(now: start + .seconds(12)) == .goAway(lastStreamID: HTTP2StreamID(1), close: true))
        let short = HTTP2ConnectionLifecycle(headerTimeout: .seconds(10), idleTimeout: .seconds(3), now: start)
        #expect(short.deadline == start + .seconds(3), "the shorter of the two before the first request")
    }

    @Test func gracefulShutdownLetsOpenStreamsFinish() {
        var lifecycle = HTTP2ConnectionLifecycle(headerTimeout: .seconds(10), idleTimeout: .seconds(75), now: .now())
        lifecycle.streamOpened(HTTP2StreamID(1))
        lifecycle.streamOpened(HTTP2StreamID(3))
        #expect(lifecycle.quiesce() == .goAway(lastStreamID: HTTP2StreamID(3), close: false))
        #expect(lifecycle.quiesce() == .none)
        #expect(lifecycle.deadline == nil, "no idle timeout while draining")
        #expect(lifecycle.streamClosed(now: .now()) == .none)
        #expect(lifecycle.streamClosed(now: .now()) == .close)
        var idle = HTTP2ConnectionLifecycle(headerTimeout: .seconds(10), idleTimeout: .seconds(75), now: .now())
        #expect(idle.quiesce() == .goAway(lastStreamID: .rootStream, close: true))
    }

    // MARK: The wire guard

    @Test func theScannerKnowsWhenAHeaderBlockIsPending() {
        var scanner = HTTP2FrameScanner()
        let preface = RawFrame.preface + RawFrame.settings().bytes
        _ = Self.scan(&scanner, preface)
        #expect(!scanner.headerBlockPending)
        var client = RawHTTP2Client()
        let open = client.headers(1, RawHTTP2Client.requestFields(), endHeaders: false).bytes
        _ = Self.scan(&scanner, Array(open.prefix(5)))
        #expect(scanner.headerBlockPending, "a frame header cut short")
        _ = Self.scan(&scanner, Array(open.dropFirst(5)))
        #expect(scanner.headerBlockPending, "HEADERS without END_HEADERS")
        _ = Self.scan(&scanner, RawFrame(type: RawFrame.Kind.continuation, flags: RawFrame.Flag.endHeaders, stream: 1, payload: [0x82]).bytes)
        #expect(!scanner.headerBlockPending)
        let data = RawFrame.data(1, Array(repeating: 1, count: 100)).bytes
        _ = Self.scan(&scanner, Array(data.prefix(50)))
        #expect(!scanner.headerBlockPending, "a DATA frame cut short is the body's (body_timeout)")
        _ = Self.scan(&scanner, Array(data.dropFirst(50)))
        let ping = RawFrame.ping().bytes
        _ = Self.scan(&scanner, Array(ping.prefix(12)))
        #expect(scanner.headerBlockPending, "any other frame cut short")
    }

    /// Scans a copy of `bytes`; returns what NIO would get now and the count held back.
    static func scan(_ scanner: inout HTTP2FrameScanner, _ bytes: [UInt8]) -> (passed: [UInt8], held: Int) {
        var copy = bytes
        let whole = copy.withUnsafeMutableBytes { scanner.scan($0) }
        return (Array(copy.prefix(whole ?? copy.count)), copy.count - (whole ?? copy.count))
    }

    /// The client's SETTINGS_HEADER_TABLE_SIZE is capped at 4,096 wherever the reads cut the
    /// frame (found by an audit: NIO sized its encoder to 4 GiB); other settings pass untouched.
    @Test func theScannerCapsTheHeaderTableSizeWhereverAReadEnds() {
        let settings = RawFrame.settings([(0x4, 65535), (0x1, 0xFFFF_FFFF), (0x1, 1024), (0x6, 1 << 20)]).bytes
        let wire = RawFrame.preface + settings + RawFrame.ping().bytes
        let capped = RawFrame.preface + RawFrame.settings([(0x4, 65535), (0x1, 4096), (0x1, 1024), (0x6, 1 << 20)]).bytes + RawFrame.ping().bytes
        for cut in 0...wire.count {
            var scanner = HTTP2FrameScanner()
            let first = Self.scan(&scanner, Array(wire.prefix(cut)))
            let rest = Self.scan(&scanner, Array(wire.suffix(first.held + wire.count - cut)))
            #expect(first.passed + rest.passed == capped && rest.held == 0, "cut at \(cut)")
            #expect(first.held < 6, "at most a SETTINGS entry is held back")
        }
        var ack = HTTP2FrameScanner()
        let acknowledgement = RawFrame.preface + RawFrame.settings(ack: true).bytes
        #expect(Self.scan(&ack, acknowledgement).passed == acknowledgement)
    }

    @Test func theFirstSettingsAdvertiseTheConfiguredLimit() {
        var buffer = ByteBuffer(bytes: RawFrame.settings([(0x3, 300), (0x6, 65536), (0x4, 65535)]).bytes)
        HTTP2WireGuard.set(.init(maxConcurrentStreams: 100, maxHeaderListSize: 32768), inSettings: &buffer)
        let frame = RawFrame(type: RawFrame.Kind.settings, stream: 0, payload: Array(buffer.readableBytesView.dropFirst(9)))
        #expect(frame.settings.map { "\($0.0)=\($0.1)" } == ["3=100", "6=32768", "4=65535"])
        var ack = ByteBuffer(bytes: RawFrame.settings(ack: true).bytes)
        HTTP2WireGuard.set(.init(maxConcurrentStreams: 100, maxHeaderListSize: 32768), inSettings: &ack)
        #expect(Array(ack.readableBytesView) == RawFrame.settings(ack: true).bytes)
    }
}

/// The SETTINGS ACK spliced in after the client's first SETTINGS, and the client's own taken
/// out, however the reads cut the frames.
@Suite struct HTTP2EarlySettingsAckTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    func run(_ chunks: [[UInt8]]) -> (output: [UInt8], done: Bool) {
        var splicer = HTTP2EarlySettingsAck()
        var output: [UInt8] = []
        for chunk in chunks {
            output += splicer.process(ByteBuffer(bytes: chunk), allocator: ByteBufferAllocator()).readableBytesView
        }
        return (output, splicer.isDone)
    }

    @Test func theACKFollowsTheClientsSettingsAndTheClientsOwnIsTakenOut() {
        let settings = RawFrame.settings([(0x4, 65535)]).bytes
        let headers = RawFrame(type: RawFrame.Kind.headers, flags: RawFrame.Flag.endHeaders, stream: 1, payload: [0x82]).bytes
        let ack = RawFrame.settings(ack: true).bytes
        let ping = RawFrame.ping().bytes
        let input = Self.preface + settings + headers + ack + ping
        let expected = Self.preface + settings + HTTP2EarlySettingsAck.settingsAck + headers + ping
        #expect(run([input]) == (expected, true))
        // Every way two reads can cut the bytes.
        for cut in 1..<input.count {
            let (output, done) = run([Array(input[..<cut]), Array(input[cut...])])
            #expect(output == expected && done, "cut at \(cut)")
        }
        // An empty SETTINGS frame, and bytes after the ACK passed through as they are.
        let empty = RawFrame.settings([]).bytes
        #expect(run([Self.preface + empty + ack + headers]).output == Self.preface + empty + HTTP2EarlySettingsAck.settingsAck + headers)
    }

    @Test func anythingButSettingsFirstIsLeftToNIO() {
        let headers = RawFrame(type: RawFrame.Kind.headers, flags: RawFrame.Flag.endHeaders, stream: 1, payload: [0x82]).bytes
        #expect(run([Self.preface + headers]) == (Self.preface + headers, true))
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
