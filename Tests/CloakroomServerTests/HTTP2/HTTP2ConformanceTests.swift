import NIOCore
import Testing

@testable import CloakroomServer

/// What a server must do per RFC 9113, in h2spec's groups (h2spec itself cannot be installed
/// here): the frames a conforming client may send and the violations a server must answer with
/// the right stream or connection error. Raw frames on an `EmbeddedChannel` through the whole
/// HTTP/2 pipeline (NIO's frame layer and Cloakroom's connection handler).
@Suite struct HTTP2ConformanceTests {
    enum Code {
        static let noError: UInt32 = 0x0, protocolError: UInt32 = 0x1, flowControl: UInt32 = 0x3, streamClosed: UInt32 = 0x5
        static let frameSize: UInt32 = 0x6, refused: UInt32 = 0x7, compression: UInt32 = 0x9
    }

    static func opened() throws -> HTTP2Fixture {
        let fixture = try HTTP2Fixture()
        try fixture.open()
        return fixture
    }

    /// GOAWAY with one of `codes`, and the connection closed.
    static func expectConnectionError(_ fixture: HTTP2Fixture, _ codes: UInt32..., sourceLocation: SourceLocation = #_sourceLocation) {
        let goAway = fixture.goAway
        #expect(goAway != nil, "a GOAWAY: \(fixture.frames)", sourceLocation: sourceLocation)
        if let code = goAway?.errorCode { #expect(codes.contains(code), "GOAWAY code \(code)", sourceLocation: sourceLocation) }
        #expect(!fixture.channel.isActive, "the connection closed", sourceLocation: sourceLocation)
    }

    /// RST_STREAM on `stream` with one of `codes`; no GOAWAY, and the connection still serves.
    static func expectStreamError(_ fixture: HTTP2Fixture, _ stream: UInt32, _ codes: UInt32..., next: UInt32, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reset = fixture.frames.last { $0.type == RawFrame.Kind.rstStream && $0.stream == stream }
        #expect(reset != nil, "a RST_STREAM on \(stream): \(fixture.frames)", sourceLocation: sourceLocation)
        if let code = reset?.errorCode { #expect(codes.contains(code), "RST_STREAM code \(code)", sourceLocation: sourceLocation) }
        #expect(fixture.goAway == nil, "no GOAWAY", sourceLocation: sourceLocation)
        #expect(try fixture.exchange(next).status == 200, "the connection serves on", sourceLocation: sourceLocation)
    }

    // MARK: 3.5 Connection preface

    @Test func theServerPrefaceIsASettingsFrame() throws {
        let fixture = try HTTP2Fixture()
        let frames = try fixture.send(RawHTTP2Client.opening)
        #expect(frames.first?.type == RawFrame.Kind.settings && frames.first?.flags == 0)
        #expect(frames.contains { $0.type == RawFrame.Kind.settings && $0.flags == RawFrame.Flag.ack }, "our SETTINGS acknowledged")
    }

    @Test func anInvalidPrefaceIsAConnectionError() throws {
        let fixture = try HTTP2Fixture()
        try fixture.send(Array("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".utf8) + RawFrame.settings().bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 4.1 Frame format, 5.5 Extending HTTP/2

    @Test func unknownFrameTypesFlagsAndTheReservedBitAreIgnored() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: 0x16, stream: 0, payload: [1, 2, 3]).bytes)
        try fixture.send(RawFrame(type: RawFrame.Kind.ping, flags: 0x16, stream: 0, payload: Array(repeating: 1, count: 8)).bytes)
        var withReservedBit = RawFrame.ping().bytes
        withReservedBit[5] |= 0x80
        let pong = try fixture.send(withReservedBit)
        #expect(pong.contains { $0.type == RawFrame.Kind.ping && $0.flags == RawFrame.Flag.ack })
        #expect(try fixture.exchange(1).status == 200)
    }

    @Test func anUnknownFrameInsideAHeaderBlockIsAConnectionError() throws {
        let fixture = try Self.opened()
        let headers = fixture.client.headers(1, RawHTTP2Client.requestFields(), endHeaders: false)
        try fixture.send(headers.bytes + RawFrame(type: 0x16, stream: 0, payload: []).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 4.2 Frame size

    @Test func aDataFrameOfTheMaximumSizeIsAccepted() throws {
        let fixture = try Self.opened()
        let fields = RawHTTP2Client.requestFields(method: "POST", extra: [("content-length", "16384")])
        let response = try fixture.exchange(1, fields, body: Array(repeating: 0x61, count: 16384))
        #expect(response.status == 200)
    }

    @Test func aFrameLargerThanMaxFrameSizeIsAnError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(method: "POST"), end: false).bytes)
        try fixture.send(RawFrame.data(1, Array(repeating: 0x61, count: 16385)).bytes)
        Self.expectConnectionError(fixture, Code.frameSize)
    }

    // MARK: 4.3 Header compression

    @Test func anInvalidHeaderBlockIsACompressionError() throws {
        let fixture = try Self.opened()
        // An indexed field whose index is far past the static and dynamic tables.
        try fixture.send(RawFrame(type: RawFrame.Kind.headers, flags: 0x5, stream: 1, payload: [0xFF, 0xFF, 0xFF, 0x0F]).bytes)
        Self.expectConnectionError(fixture, Code.compression)
    }

    @Test func aPriorityFrameInsideAHeaderBlockIsAConnectionError() throws {
        let fixture = try Self.opened()
        let headers = fixture.client.headers(1, RawHTTP2Client.requestFields(), endHeaders: false)
        try fixture.send(headers.bytes + RawFrame(type: RawFrame.Kind.priority, stream: 1, payload: [0, 0, 0, 0, 16]).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func headersForAnotherStreamInsideAHeaderBlockIsAConnectionError() throws {
        let fixture = try Self.opened()
        let first = fixture.client.headers(1, RawHTTP2Client.requestFields(), endHeaders: false)
        let second = fixture.client.headers(3, RawHTTP2Client.requestFields())
        try fixture.send(first.bytes + second.bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 5.1 Stream states

    @Test(arguments: [
        ("DATA", RawFrame.data(1, [1])),
        ("RST_STREAM", RawFrame.rst(1, code: 8)),
        ("WINDOW_UPDATE", RawFrame.windowUpdate(1, 10)),
        ("CONTINUATION", RawFrame(type: RawFrame.Kind.continuation, flags: 0x4, stream: 1, payload: [0x82])),
    ])
    func framesOnAnIdleStreamAreAConnectionError(name: String, frame: RawFrame) throws {
        let fixture = try Self.opened()
        try fixture.send(frame.bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func dataOnAHalfClosedRemoteStreamIsStreamClosed() throws {
        let fixture = try Self.opened()
        // The client's stream window is 0, so the echo's body waits: the request has ended, the
        // response has not, and the stream stays half-closed (remote).
        try fixture.send(RawFrame.settings([(0x4, 0)]).bytes)
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(path: "/echo/held")).bytes)
        #expect(!fixture.frames.contains { $0.stream == 1 && $0.type == RawFrame.Kind.data }, "the window held the body back")
        try fixture.send(RawFrame.data(1, [1]).bytes)
        let reset = fixture.frames.last { $0.type == RawFrame.Kind.rstStream && $0.stream == 1 }
        let goAway = fixture.goAway
        #expect(reset?.errorCode == Code.streamClosed || goAway?.errorCode == Code.streamClosed, "\(fixture.frames)")
    }

    @Test func dataAfterTheStreamEndedIsStreamClosed() throws {
        let fixture = try Self.opened()
        #expect(try fixture.exchange(1).status == 200)
        try fixture.send(RawFrame.data(1, [1]).bytes)
        let reset = fixture.frames.last { $0.type == RawFrame.Kind.rstStream && $0.stream == 1 }
        let goAway = fixture.goAway
        #expect(reset?.errorCode == Code.streamClosed || goAway?.errorCode == Code.streamClosed, "\(fixture.frames)")
    }

    @Test func framesOnAStreamTheClientResetAreIgnoredOrStreamClosed() throws {
        let fixture = try Self.opened()
        try fixture.openLogin(1)
        try fixture.send(RawFrame.rst(1, code: 8).bytes)
        try fixture.send(RawFrame.data(1, [1]).bytes)
        #expect(fixture.goAway == nil || fixture.goAway?.errorCode == Code.streamClosed)
        #expect(fixture.loggedOutcomes == ["client_closed"])
    }

    // MARK: 5.1.1 Stream identifiers

    @Test func anEvenStreamIdentifierIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.request(2))
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func aSmallerStreamIdentifierIsAConnectionError() throws {
        let fixture = try Self.opened()
        #expect(try fixture.exchange(5).status == 200)
        try fixture.send(fixture.client.request(3))
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 5.1.2 Stream concurrency

    @Test func streamsPastTheAdvertisedLimitAreRefused() throws {
        let fixture = try HTTP2Fixture { $0.client.maxConcurrentStreams = 3 }
        let opening = try fixture.open()
        #expect(opening.first?.settings.first { $0.0 == 0x3 }?.1 == 3)
        for stream: UInt32 in [1, 3, 5] { try fixture.openLogin(stream) }
        try fixture.openLogin(7)
        #expect(fixture.responses(fixture.frames)[7]?.reset == Code.refused)
        #expect(fixture.goAway == nil)
        try fixture.send(RawFrame.rst(1, code: 8).bytes)
        #expect(try fixture.exchange(9).status == 200, "a stream ended: room for one more")
    }

    // MARK: 5.3 Priority

    /// RFC 9113 §5.3.1 asks for a stream error; NIO's frame layer makes it a connection error
    /// of the same code (h2spec accepts either), before Cloakroom sees the frame.
    @Test func aStreamThatDependsOnItselfIsAProtocolError() throws {
        let headersFixture = try Self.opened()
        var headers = headersFixture.client.headers(1, RawHTTP2Client.requestFields())
        headers.flags |= RawFrame.Flag.priority
        headers.payload = RawFrame.be32(1) + [16] + headers.payload
        try headersFixture.send(headers.bytes)
        #expect(headersFixture.frames.contains { $0.errorCode == Code.protocolError }, "\(headersFixture.frames)")
        #expect(headersFixture.responses(headersFixture.frames)[1]?.status == nil, "nothing answered")
        let priority = try Self.opened()
        try priority.send(RawFrame(type: RawFrame.Kind.priority, stream: 5, payload: RawFrame.be32(5) + [16]).bytes)
        #expect(priority.frames.contains { $0.errorCode == Code.protocolError }, "\(priority.frames)")
    }

    @Test func priorityFramesAreAccepted() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.priority, stream: 3, payload: RawFrame.be32(0) + [16]).bytes)
        #expect(try fixture.exchange(1).status == 200)
    }

    // MARK: 5.4.1 Connection error handling

    @Test func aConnectionErrorIsAGoAwayThenClose() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.ping, stream: 0, payload: [1, 2, 3]).bytes)
        Self.expectConnectionError(fixture, Code.frameSize)
    }

    // MARK: 6.1 DATA

    @Test func dataOnStreamZeroIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame.data(0, [1]).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func dataWithAnInvalidPadLengthIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(method: "POST"), end: false).bytes)
        try fixture.send(RawFrame(type: RawFrame.Kind.data, flags: RawFrame.Flag.padded, stream: 1, payload: [9, 1, 2]).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func paddedDataIsAcceptedAndItsPaddingCountsTowardFlowControl() throws {
        let fixture = try Self.opened()
        let fields = RawHTTP2Client.requestFields(method: "POST", path: "/login", extra: [("content-type", "application/x-www-form-urlencoded")])
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes)
        for _ in 0..<100 {
            try fixture.send(RawFrame(type: RawFrame.Kind.data, flags: RawFrame.Flag.padded, stream: 1, payload: [200, 0x61] + Array(repeating: 0, count: 200)).bytes)
        }
        #expect(fixture.goAway == nil, "20 KB of padding: the windows were reopened as it came")
        #expect(fixture.channel.isActive)
    }

    // MARK: 6.2 HEADERS

    @Test func headersOnStreamZeroIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(0, RawHTTP2Client.requestFields()).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func headersWithAnInvalidPadLengthIsAConnectionError() throws {
        let fixture = try Self.opened()
        var headers = fixture.client.headers(1, RawHTTP2Client.requestFields())
        headers.flags |= RawFrame.Flag.padded
        headers.payload = [UInt8(min(255, headers.payload.count + 10))] + headers.payload
        try fixture.send(headers.bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func paddedHeadersAreAccepted() throws {
        let fixture = try Self.opened()
        var headers = fixture.client.headers(1, RawHTTP2Client.requestFields())
        headers.flags |= RawFrame.Flag.padded
        headers.payload = [4] + headers.payload + [0, 0, 0, 0]
        let response = fixture.responses(try fixture.send(headers.bytes))[1]
        #expect(response?.status == 200)
    }

    // MARK: 6.3 PRIORITY, 6.4 RST_STREAM

    @Test func priorityOnStreamZeroIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.priority, stream: 0, payload: RawFrame.be32(1) + [16]).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func priorityOfTheWrongLengthIsAnError() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.priority, stream: 1, payload: [0, 0, 0, 0]).bytes)
        #expect(fixture.frames.contains { $0.errorCode == Code.frameSize }, "\(fixture.frames)")
    }

    @Test func rstStreamOnStreamZeroOrOfTheWrongLengthIsAConnectionError() throws {
        let zero = try Self.opened()
        try zero.send(RawFrame.rst(0, code: 8).bytes)
        Self.expectConnectionError(zero, Code.protocolError)
        let length = try Self.opened()
        try length.openLogin(1)
        try length.send(RawFrame(type: RawFrame.Kind.rstStream, stream: 1, payload: [0, 0, 0, 8, 0]).bytes)
        Self.expectConnectionError(length, Code.frameSize)
    }

    // MARK: 6.5 SETTINGS

    @Test func settingsAreAcknowledged() throws {
        let fixture = try Self.opened()
        let frames = try fixture.send(RawFrame.settings([(0x1, 4096), (0x3, 100), (0x4, 65535), (0x5, 16384), (0x6, 65536), (0x99, 1)]).bytes)
        #expect(frames.contains { $0.type == RawFrame.Kind.settings && $0.flags == RawFrame.Flag.ack && $0.payload.isEmpty })
    }

    /// A client's SETTINGS_HEADER_TABLE_SIZE bounds the proxy's HPACK encoder table, capped at
    /// 4,096 bytes (found by an audit: 4 GiB announced, every distinct response field value was
    /// kept for the connection's life). Uncapped, NIO's encoder announces the client's size in its
    /// next block, which this client's decoder (4,096 bytes) refuses; in one read or byte by byte.
    @Test(arguments: [false, true])
    func theHeaderTableSizeAClientAnnouncesIsCapped(byteByByte: Bool) throws {
        let fixture = try HTTP2Fixture()
        let opening = RawFrame.preface + RawFrame.settings([(0x4, 65535), (0x1, 0xFFFF_FFFF)]).bytes + RawFrame.settings(ack: true).bytes
        if byteByByte {
            for byte in opening { try fixture.send([byte]) }
        } else {
            try fixture.send(opening)
        }
        for stream in stride(from: 1 as UInt32, through: 5, by: 2) {
            let response = try fixture.exchange(stream)
            #expect(response.status == 200, "stream \(stream): \(response.frames) \(response.headers)")
        }
        #expect(fixture.goAway == nil)
    }

    @Test(arguments: [
        ("ACK with a payload", RawFrame(type: RawFrame.Kind.settings, flags: RawFrame.Flag.ack, stream: 0, payload: [0, 1, 0, 0, 0, 1]), Code.frameSize),
        ("on a stream", RawFrame(type: RawFrame.Kind.settings, stream: 1, payload: []), Code.protocolError),
        ("length not a multiple of 6", RawFrame(type: RawFrame.Kind.settings, stream: 0, payload: [0, 1, 0]), Code.frameSize),
        ("ENABLE_PUSH 2", RawFrame.settings([(0x2, 2)]), Code.protocolError),
        ("INITIAL_WINDOW_SIZE past 2^31-1", RawFrame.settings([(0x4, 0x8000_0000)]), Code.flowControl),
        ("MAX_FRAME_SIZE below 16384", RawFrame.settings([(0x5, 16383)]), Code.protocolError),
        ("MAX_FRAME_SIZE past 2^24-1", RawFrame.settings([(0x5, 16_777_216)]), Code.protocolError),
    ])
    func invalidSettingsAreAConnectionError(name: String, frame: RawFrame, code: UInt32) throws {
        let fixture = try Self.opened()
        try fixture.send(frame.bytes)
        Self.expectConnectionError(fixture, code)
    }

    // MARK: 6.7 PING

    @Test func pingIsAnsweredWithTheSamePayload() throws {
        let fixture = try Self.opened()
        let payload: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let frames = try fixture.send(RawFrame.ping(payload).bytes)
        #expect(frames.contains { $0.type == RawFrame.Kind.ping && $0.flags == RawFrame.Flag.ack && $0.payload == payload })
        let none = try fixture.send(RawFrame.ping(payload, ack: true).bytes)
        #expect(!none.contains { $0.type == RawFrame.Kind.ping }, "an ACK is not answered")
    }

    @Test func pingOnAStreamIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.ping, stream: 1, payload: Array(repeating: 0, count: 8)).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 6.8 GOAWAY

    @Test func goAwayOnAStreamIsAConnectionError() throws {
        let fixture = try Self.opened()
        var frame = RawFrame.goAway(last: 0)
        frame.stream = 1
        try fixture.send(frame.bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func theClientsGoAwayEndsTheConnectionOnceItsStreamsAreDone() throws {
        let fixture = try Self.opened()
        try fixture.openLogin(1)
        try fixture.send(RawFrame.goAway(last: 0).bytes)
        #expect(fixture.channel.isActive, "stream 1 is still open")
        try fixture.send(RawFrame.rst(1, code: 8).bytes)
        #expect(!fixture.channel.isActive)
    }

    // MARK: 6.9 WINDOW_UPDATE, 6.9.1 The flow-control window

    @Test func aZeroIncrementIsAnError() throws {
        let connection = try Self.opened()
        try connection.send(RawFrame.windowUpdate(0, 0).bytes)
        Self.expectConnectionError(connection, Code.protocolError)
        let stream = try Self.opened()
        try stream.openLogin(1)
        try stream.send(RawFrame.windowUpdate(1, 0).bytes)
        try Self.expectStreamError(stream, 1, Code.protocolError, next: 3)
    }

    @Test func aWindowUpdateOfTheWrongLengthIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(RawFrame(type: RawFrame.Kind.windowUpdate, stream: 0, payload: [0, 0, 1]).bytes)
        Self.expectConnectionError(fixture, Code.frameSize)
    }

    @Test func aWindowPast2To31Minus1IsAFlowControlError() throws {
        let connection = try Self.opened()
        try connection.send(RawFrame.windowUpdate(0, 0x7FFF_FFFF).bytes)
        Self.expectConnectionError(connection, Code.flowControl)
        let stream = try Self.opened()
        try stream.openLogin(1)
        try stream.send(RawFrame.windowUpdate(1, 0x7FFF_FFFF).bytes)
        try Self.expectStreamError(stream, 1, Code.flowControl, next: 3)
    }

    @Test func theServerRespectsTheClientsInitialWindowSize() throws {
        let fixture = try HTTP2Fixture()
        try fixture.send(RawFrame.preface + RawFrame.settings([(0x4, 1)]).bytes + RawFrame.settings(ack: true).bytes)
        let first = fixture.responses(try fixture.send(fixture.client.request(1)))[1]
        #expect(first?.status == 200)
        #expect(first?.body.count == 1, "one byte of window")
        try fixture.send(RawFrame.settings([(0x4, 65535)]).bytes)
        let rest = fixture.responses(fixture.frames)[1]
        #expect(rest?.ended == true, "the rest once the window grew")
    }

    @Test func theServerKeepsTheClientsConnectionWindow() throws {
        let fixture = try Self.opened()
        // Responses of about 700 bytes: the 64 KiB connection window runs out after ~90.
        var bytes: [UInt8] = []
        for stream in stride(from: UInt32(1), through: 199, by: 2) { bytes += fixture.client.request(stream, RawHTTP2Client.requestFields(path: "/echo/" + String(repeating: "p", count: 600))) }
        try fixture.send(bytes)
        let sent = fixture.frames.filter { $0.type == RawFrame.Kind.data }.reduce(0) { $0 + $1.payload.count }
        #expect(sent <= 65535)
        try fixture.send(RawFrame.windowUpdate(0, 1 << 20).bytes)
        let responses = fixture.responses(fixture.frames)
        #expect(responses.values.filter(\.ended).count == 100)
    }

    // MARK: 6.10 CONTINUATION

    @Test func aHeaderBlockSplitOverContinuationFramesIsAccepted() throws {
        let fixture = try Self.opened()
        let block = fixture.client.block(RawHTTP2Client.requestFields(extra: [("x-long", String(repeating: "v", count: 300))]))
        let pieces = stride(from: 0, to: block.count, by: 100).map { Array(block[$0..<min($0 + 100, block.count)]) }
        var bytes = RawFrame(type: RawFrame.Kind.headers, flags: RawFrame.Flag.endStream, stream: 1, payload: pieces[0]).bytes
        for (index, piece) in pieces.enumerated().dropFirst() {
            bytes += RawFrame(type: RawFrame.Kind.continuation, flags: index == pieces.count - 1 ? RawFrame.Flag.endHeaders : 0, stream: 1, payload: piece).bytes
        }
        let response = fixture.responses(try fixture.send(bytes))[1]
        #expect(response?.status == 200)
        #expect(response?.text.contains(String(repeating: "v", count: 300)) == true)
    }

    @Test func aContinuationOnStreamZeroOrAnotherStreamIsAConnectionError() throws {
        let fixture = try Self.opened()
        let headers = fixture.client.headers(1, RawHTTP2Client.requestFields(), endHeaders: false)
        try fixture.send(headers.bytes + RawFrame(type: RawFrame.Kind.continuation, flags: 0x4, stream: 3, payload: []).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    @Test func continuationAfterACompleteHeaderBlockIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(method: "POST"), end: false).bytes)
        try fixture.send(RawFrame(type: RawFrame.Kind.continuation, flags: 0x4, stream: 1, payload: [0x82]).bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }

    // MARK: 7 Error codes

    @Test func unknownErrorCodesAreAccepted() throws {
        let fixture = try Self.opened()
        try fixture.openLogin(1)
        try fixture.send(RawFrame.rst(1, code: 0xFF).bytes)
        #expect(try fixture.exchange(3).status == 200)
    }

    // MARK: 8.1 HTTP message exchanges

    @Test func trailersAreAcceptedAndDropped() throws {
        let fixture = try Self.opened()
        // To the echo upstream, which the proxy answers on the event loop (a completed built-in
        // login would wait for the store off the loop, which an EmbeddedChannel cannot take).
        let fields = RawHTTP2Client.requestFields(method: "POST", path: "/echo/trailers")
        var bytes = fixture.client.headers(1, fields, end: false).bytes + RawFrame.data(1, Array("a=b".utf8)).bytes
        bytes += fixture.client.headers(1, [("x-trailer", "t")], end: true).bytes
        let response = fixture.responses(try fixture.send(bytes))[1]
        #expect(response?.status == 200)
        #expect(response?.text.contains("x-trailer") == false, "trailers are not forwarded")
        #expect(fixture.goAway == nil)
        #expect(fixture.channel.isActive)
    }

    @Test func aSecondHeadersWithoutEndStreamIsAStreamError() throws {
        let fixture = try Self.opened()
        try fixture.openLogin(1)
        try fixture.send(fixture.client.headers(1, [("x-trailer", "t")], end: false).bytes)
        #expect(fixture.frames.contains { $0.stream == 1 && $0.errorCode == Code.protocolError } || fixture.goAway?.errorCode == Code.protocolError)
    }

    // MARK: 8.1.2 Header fields (RFC 9113 §8.2, §8.3)

    @Test(arguments: [
        ("uppercase name", RawHTTP2Client.requestFields(extra: [("X-A", "1")])),
        ("response pseudo-header", RawHTTP2Client.requestFields(extra: []) + [(":status", "200")]),
        ("pseudo-header after a regular one", [(":method", "GET"), (":scheme", "https"), ("x-a", "1"), (":path", "/"), (":authority", "a")]),
        ("connection", RawHTTP2Client.requestFields(extra: [("connection", "close")])),
        ("keep-alive", RawHTTP2Client.requestFields(extra: [("keep-alive", "5")])),
        ("upgrade", RawHTTP2Client.requestFields(extra: [("upgrade", "websocket")])),
        ("transfer-encoding", RawHTTP2Client.requestFields(extra: [("transfer-encoding", "chunked")])),
        ("proxy-connection", RawHTTP2Client.requestFields(extra: [("proxy-connection", "keep-alive")])),
        ("te: gzip", RawHTTP2Client.requestFields(extra: [("te", "gzip")])),
        ("empty :path", RawHTTP2Client.requestFields(path: "")),
        ("no :method", [(":scheme", "https"), (":path", "/"), (":authority", "a")]),
        ("no :scheme", [(":method", "GET"), (":path", "/"), (":authority", "a")]),
        ("no :path", [(":method", "GET"), (":scheme", "https"), (":authority", "a")]),
        ("two :method", RawHTTP2Client.requestFields(extra: []) + [(":method", "GET")]),
        ("two :scheme", [(":method", "GET"), (":scheme", "https"), (":scheme", "https"), (":path", "/"), (":authority", "a")]),
        ("two :path", [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":path", "/"), (":authority", "a")]),
        ("CR in a value", RawHTTP2Client.requestFields(extra: [("x-a", "a\rb")])),
        ("space in :path", RawHTTP2Client.requestFields(path: "/a b")),
        ("leading whitespace", RawHTTP2Client.requestFields(extra: [("x-a", "\tv")])),
    ] as [(String, [(String, String)])])
    func malformedHeaderBlocksAreAStreamError(name: String, fields: [(String, String)]) throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(1, fields).bytes)
        try Self.expectStreamError(fixture, 1, Code.protocolError, next: 3)
        #expect(fixture.loggedOutcomes == ["error", "complete"], "\(name): the refusal is logged (400), then the next request")
    }

    @Test func pseudoHeadersInTrailersAreAStreamError() throws {
        let fixture = try Self.opened()
        try fixture.openLogin(1)
        try fixture.send(fixture.client.headers(1, [(":path", "/")], end: true).bytes)
        try Self.expectStreamError(fixture, 1, Code.protocolError, next: 3)
    }

    // MARK: 8.1.2.6 content-length

    @Test func dataShorterOrLongerThanContentLengthIsAStreamError() throws {
        let fixture = try Self.opened()
        let fields = RawHTTP2Client.requestFields(method: "POST", path: "/login", extra: [("content-length", "4"), ("content-type", "application/x-www-form-urlencoded")])
        try fixture.send(fixture.client.headers(1, fields, end: false).bytes + RawFrame.data(1, [0x61, 0x61], end: true).bytes)
        try Self.expectStreamError(fixture, 1, Code.protocolError, next: 3)
        try fixture.send(fixture.client.headers(5, fields, end: false).bytes + RawFrame.data(5, Array(repeating: 0x61, count: 6)).bytes)
        try Self.expectStreamError(fixture, 5, Code.protocolError, next: 7)
    }

    // MARK: 8.2 Server push

    @Test func aPushPromiseFromTheClientIsAConnectionError() throws {
        let fixture = try Self.opened()
        try fixture.send(fixture.client.headers(1, RawHTTP2Client.requestFields(method: "POST"), end: false).bytes)
        var promise = fixture.client.headers(1, RawHTTP2Client.requestFields())
        promise.type = RawFrame.Kind.pushPromise
        promise.payload = RawFrame.be32(2) + promise.payload
        try fixture.send(promise.bytes)
        Self.expectConnectionError(fixture, Code.protocolError)
    }
}
