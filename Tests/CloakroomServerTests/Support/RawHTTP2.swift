import NIOCore
import NIOHPACK

/// One HTTP/2 frame as bytes on the wire (RFC 9113 §4.1).
struct RawFrame: CustomStringConvertible, Sendable {
    var type: UInt8
    var flags: UInt8 = 0
    var stream: UInt32
    var payload: [UInt8] = []
    /// A HEADERS frame's fields, decoded as the frame arrived (HPACK is stateful).
    var fields: [(String, String)]? = nil

    /// Frame types.
    enum Kind {
        static let data: UInt8 = 0x0, headers: UInt8 = 0x1, priority: UInt8 = 0x2, rstStream: UInt8 = 0x3, settings: UInt8 = 0x4
        static let pushPromise: UInt8 = 0x5, ping: UInt8 = 0x6, goAway: UInt8 = 0x7, windowUpdate: UInt8 = 0x8, continuation: UInt8 = 0x9
    }
    /// Flags.
    enum Flag {
        static let endStream: UInt8 = 0x1, ack: UInt8 = 0x1, endHeaders: UInt8 = 0x4, padded: UInt8 = 0x8, priority: UInt8 = 0x20
    }

    var bytes: [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + Self.be32(stream & 0x7FFF_FFFF) + payload
    }

    var isEndStream: Bool { flags & Flag.endStream != 0 }
    /// RST_STREAM's code, or GOAWAY's.
    var errorCode: UInt32? {
        switch type {
        case Kind.rstStream where payload.count == 4: return Self.read32(payload, 0)
        case Kind.goAway where payload.count >= 8: return Self.read32(payload, 4)
        default: return nil
        }
    }
    var lastStreamID: UInt32? { type == Kind.goAway && payload.count >= 8 ? Self.read32(payload, 0) & 0x7FFF_FFFF : nil }
    var windowIncrement: UInt32? { type == Kind.windowUpdate && payload.count == 4 ? Self.read32(payload, 0) & 0x7FFF_FFFF : nil }
    /// SETTINGS entries (identifier, value).
    var settings: [(UInt16, UInt32)] {
        guard type == Kind.settings else { return [] }
        return stride(from: 0, to: payload.count - 5, by: 6).map { (UInt16(payload[$0]) << 8 | UInt16(payload[$0 + 1]), Self.read32(payload, $0 + 2)) }
    }

    var description: String {
        let names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
        let name = Int(type) < names.count ? names[Int(type)] : "type\(type)"
        var text = "\(name)[\(stream)] flags=\(flags) len=\(payload.count)"
        if let code = errorCode { text += " code=\(code)" }
        if let last = lastStreamID { text += " last=\(last)" }
        if let increment = windowIncrement { text += " +\(increment)" }
        return text
    }

    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func read32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    // MARK: Frames a client sends

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func settings(_ entries: [(UInt16, UInt32)] = [], ack: Bool = false) -> RawFrame {
        RawFrame(type: Kind.settings, flags: ack ? Flag.ack : 0, stream: 0, payload: entries.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xFF)] + be32($0.1) })
    }

    static func data(_ stream: UInt32, _ bytes: [UInt8], end: Bool = false) -> RawFrame {
        RawFrame(type: Kind.data, flags: end ? Flag.endStream : 0, stream: stream, payload: bytes)
    }

    static func rst(_ stream: UInt32, code: UInt32) -> RawFrame { RawFrame(type: Kind.rstStream, stream: stream, payload: be32(code)) }

    static func windowUpdate(_ stream: UInt32, _ increment: UInt32) -> RawFrame {
        RawFrame(type: Kind.windowUpdate, stream: stream, payload: be32(increment))
    }

    static func ping(_ opaque: [UInt8] = Array(repeating: 7, count: 8), ack: Bool = false) -> RawFrame {
        RawFrame(type: Kind.ping, flags: ack ? Flag.ack : 0, stream: 0, payload: opaque)
    }

    static func goAway(last: UInt32, code: UInt32 = 0) -> RawFrame { RawFrame(type: Kind.goAway, stream: 0, payload: be32(last) + be32(code)) }
}

/// The client side of a raw HTTP/2 connection: header blocks through NIO's HPACK encoder (any
/// field, valid or not), the server's frames parsed back and its header blocks decoded.
struct RawHTTP2Client {
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), useHuffmanEncoding: false)
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    private var pending: [UInt8] = []

    /// The connection preface and an empty SETTINGS frame.
    static var opening: [UInt8] { RawFrame.preface + RawFrame.settings().bytes }

    /// `:method`, `:scheme`, `:path`, `:authority`, then `extra`; `pseudo` replaces the first four.
    static func requestFields(
        method: String = "GET", path: String = "/echo/x", authority: String = "example.com", scheme: String = "https",
        extra: [(String, String)] = []
    ) -> [(String, String)] {
        [(":method", method), (":scheme", scheme), (":path", path), (":authority", authority)] + extra
    }

    mutating func block(_ fields: [(String, String)]) -> [UInt8] {
        var buffer = ByteBuffer()
        try! encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    mutating func headers(_ stream: UInt32, _ fields: [(String, String)], end: Bool = true, endHeaders: Bool = true) -> RawFrame {
        RawFrame(
            type: RawFrame.Kind.headers, flags: (end ? RawFrame.Flag.endStream : 0) | (endHeaders ? RawFrame.Flag.endHeaders : 0), stream: stream,
            payload: block(fields))
    }

    /// A request on `stream`: HEADERS (END_STREAM unless a body or `open`), then the body as one DATA.
    mutating func request(_ stream: UInt32, _ fields: [(String, String)] = requestFields(), body: [UInt8]? = nil, open: Bool = false) -> [UInt8] {
        var bytes = headers(stream, fields, end: body == nil && !open).bytes
        if let body { bytes += RawFrame.data(stream, body, end: !open).bytes }
        return bytes
    }

    /// The whole frames in `bytes` so far (a frame cut short waits for the next call).
    mutating func frames(_ bytes: [UInt8]) -> [RawFrame] {
        pending += bytes
        var frames: [RawFrame] = []
        var index = 0
        while index + 9 <= pending.count {
            let length = Int(pending[index]) << 16 | Int(pending[index + 1]) << 8 | Int(pending[index + 2])
            guard index + 9 + length <= pending.count else { break }
            let stream = RawFrame.read32(Array(pending[(index + 5)..<(index + 9)]), 0) & 0x7FFF_FFFF
            var frame = RawFrame(type: pending[index + 3], flags: pending[index + 4], stream: stream, payload: Array(pending[(index + 9)..<(index + 9 + length)]))
            if frame.type == RawFrame.Kind.headers { frame.fields = decode(frame) }
            frames.append(frame)
            index += 9 + length
        }
        pending.removeFirst(index)
        return frames
    }

    /// A HEADERS frame's fields (no padding or priority in what servers send here).
    private mutating func decode(_ frame: RawFrame) -> [(String, String)] {
        var buffer = ByteBuffer(bytes: frame.payload)
        guard let headers = try? decoder.decodeHeaders(from: &buffer) else { return [("decode", "failed")] }
        return headers.map { ($0.name, $0.value) }
    }
}

/// What one stream got back from the server, gathered from its frames.
struct RawStreamResponse {
    var status: Int?
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    var ended = false
    var reset: UInt32?
    /// The frame types in order, as "HEADERS", "DATA", "DATA+END", "RST=0".
    var frames: [String] = []

    var text: String { String(decoding: body, as: UTF8.self) }
    func value(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
}

extension RawHTTP2Client {
    /// Gathers `frames` per stream.
    func responses(_ frames: [RawFrame]) -> [UInt32: RawStreamResponse] {
        var result: [UInt32: RawStreamResponse] = [:]
        for frame in frames where frame.stream != 0 {
            var response = result[frame.stream] ?? RawStreamResponse()
            let end = frame.isEndStream ? "+END" : ""
            switch frame.type {
            case RawFrame.Kind.headers:
                let fields = frame.fields ?? []
                if let status = fields.first(where: { $0.0 == ":status" }).flatMap({ Int($0.1) }), status >= 200 {
                    response.status = status
                    response.headers = fields.filter { !$0.0.hasPrefix(":") }
                }
                response.frames.append("HEADERS" + end)
                if frame.isEndStream { response.ended = true }
            case RawFrame.Kind.data:
                response.body += frame.payload
                response.frames.append("DATA" + end)
                if frame.isEndStream { response.ended = true }
            case RawFrame.Kind.rstStream:
                response.reset = frame.errorCode
                response.frames.append("RST=\(frame.errorCode ?? 99)")
            default:
                break
            }
            result[frame.stream] = response
        }
        return result
    }
}
