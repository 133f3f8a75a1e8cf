import CloakroomConfig
import Foundation
import Testing

/// HTTP/2 with prior knowledge on a plain listener, and the limits against known attacks,
/// driven with raw frames: rapid reset (CVE-2023-44487) and a CONTINUATION flood each end the
/// connection with GOAWAY, and nothing of the flood reaches the backend.
@Suite(.serialized)
struct HTTP2AbuseTests {
    /// One frame: 9-byte header (length, type, flags, stream) and payload.
    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(type: 0x4, stream: 0)
    /// HPACK for GET http://localhost/public/x: :method GET, :scheme http, :path (literal), :authority.
    static let requestBlock: [UInt8] = [0x82, 0x86, 0x44, 0x09] + Array("/public/x".utf8) + [0x41, 0x09] + Array("localhost".utf8)

    /// Frames (type, flags, error code for GOAWAY) parsed from what the server sent.
    static func frames(in bytes: [UInt8]) -> [(type: UInt8, payload: ArraySlice<UInt8>)] {
        var result: [(UInt8, ArraySlice<UInt8>)] = []
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            guard index + 9 + length <= bytes.count else { break }
            result.append((bytes[index + 3], bytes[(index + 9)..<(index + 9 + length)]))
            index += 9 + length
        }
        return result
    }

    static func goAwayCode(_ frames: [(type: UInt8, payload: ArraySlice<UInt8>)]) -> UInt32? {
        guard let goAway = frames.last(where: { $0.type == 0x7 }), goAway.payload.count >= 8 else { return nil }
        let code = goAway.payload.dropFirst(4).prefix(4)
        return code.reduce(0) { $0 << 8 | UInt32($1) }
    }

    @Test func priorKnowledgeHTTP2OnAPlainListener() async throws {
        let harness = try await ProxyHarness.start()
        defer { Task { await harness.stop() } }
        let response = try await Curl.get("\(harness.base)/public/h2c", ["--http2-prior-knowledge"])
        #expect(response.status == 200)
        #expect(response.version == "2")
        #expect(harness.backend.requests.last?.uri == "/public/h2c")
        #expect(try await Curl.get("\(harness.base)/public/h1").version == "1.1", "HTTP/1.1 still served")
    }

    @Test func rapidResetEndsTheConnection() async throws {
        // Only the flood's own check can close it before the client gives up after 30 s.
        let harness = try await ProxyHarness.start { $0.client.headerTimeout = .seconds(120) }
        defer { Task { await harness.stop() } }
        var bytes = Self.preface
        for index in 0..<400 {
            let stream = UInt32(2 * index + 1)
            bytes += Self.frame(type: 0x1, flags: 0x5, stream: stream, Self.requestBlock)  // HEADERS, END_STREAM|END_HEADERS
            bytes += Self.frame(type: 0x3, stream: stream, [0, 0, 0, 0x8])  // RST_STREAM CANCEL
        }
        let port = harness.port
        let request = bytes
        let reply = try await offPool { try RawSocket.exchangeUntilClosed(port: port, request) }
        #expect(reply.closedByServer, "the server closed the connection rather than leave it open")
        #expect(Self.goAwayCode(Self.frames(in: reply.bytes)) == 0xB, "GOAWAY ENHANCE_YOUR_CALM")
        #expect(harness.backend.requests.count < 400, "the flood was cut short: \(harness.backend.requests.count) forwarded")
    }

    @Test func continuationFloodEndsTheConnectionAndForwardsNothing() async throws {
        // Only the flood's own check can close it before the client gives up after 30 s.
        let harness = try await ProxyHarness.start { $0.client.headerTimeout = .seconds(120) }
        defer { Task { await harness.stop() } }
        var bytes = Self.preface + Self.frame(type: 0x1, flags: 0x1, stream: 1, Self.requestBlock)  // HEADERS without END_HEADERS
        let crumb: [UInt8] = [0x40, 0x03] + Array("x-a".utf8) + [0x01] + Array("b".utf8)
        for _ in 0..<50 { bytes += Self.frame(type: 0x9, stream: 1, crumb) }  // CONTINUATION, never END_HEADERS
        let port = harness.port
        let request = bytes
        let reply = try await offPool { try RawSocket.exchangeUntilClosed(port: port, request) }
        #expect(reply.closedByServer, "the server closed the connection rather than leave it open")
        #expect(Self.goAwayCode(Self.frames(in: reply.bytes)) != nil, "the connection ends with GOAWAY")
        #expect(harness.backend.requests.isEmpty)
    }
}
