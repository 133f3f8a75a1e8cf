import NIOCore

/// Below NIO's HTTP/2 handler, on the connection's bytes: what the frame layer above cannot
/// tell Cloakroom.
///
/// - **Inbound**: walks the frame headers (never the payloads) to know whether a header block
///   is partly received (HEADERS or CONTINUATION without END_HEADERS, or any frame but DATA cut
///   short), which `client.header_timeout` bounds: NIO's decoder shows nothing of it until it is
///   whole. It also marks the span of NIO's processing of each read, so the connection handler
///   can tell errors NIO raises while decoding from any other. And it caps the client's
///   SETTINGS_HEADER_TABLE_SIZE at ``HTTP2FrameScanner/encoderTableLimit`` before NIO reads it.
/// - **Outbound**: the server's first SETTINGS frame advertises `client.max_concurrent_streams`
///   while NIO enforces a higher limit (``HTTP2Pipeline``): streams past the advertised limit
///   are refused one by one with REFUSED_STREAM by the connection handler (RFC 9113 §5.1.2)
///   instead of costing the whole connection a GOAWAY.
final class HTTP2WireGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Told whether a header block is pending after each read, and when NIO is decoding.
    /// Strong (a weak reference would slow every retain of the connection handler): let go
    /// when the handler is removed.
    var observer: HTTP2WireObserver?
    private var scanner = HTTP2FrameScanner()
    private var earlyAck = HTTP2EarlySettingsAck()
    /// The start of a SETTINGS entry cut by the end of a read, held back until it is whole.
    private var carry: ByteBuffer?
    /// What the first SETTINGS frame says in place of NIO's values, until it has gone out.
    private var advertised: Advertised?

    struct Advertised {
        /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
        var maxConcurrentStreams: UInt32
        /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): `client.max_header_bytes`, while NIO decodes
        /// blocks up to a higher limit so a larger head gets its 431 on its stream alone.
        var maxHeaderListSize: UInt32
    }

    init(advertised: Advertised?) {
        self.advertised = advertised
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        observer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if !earlyAck.isDone { bytes = earlyAck.process(bytes, allocator: context.channel.allocator) }
        if var held = carry.take() {
            held.writeBuffer(&bytes)
            bytes = held
        }
        if let whole = bytes.withUnsafeMutableReadableBytes({ scanner.scan($0) }) {
            carry = bytes.getSlice(at: bytes.readerIndex + whole, length: bytes.readableBytes - whole)
            bytes = bytes.getSlice(at: bytes.readerIndex, length: whole)!
        }
        observer?.wireRead(decoding: true)
        context.fireChannelRead(wrapInboundOut(bytes))
        observer?.wireRead(decoding: false)
        observer?.headerBlock(pending: scanner.headerBlockPending)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let value = advertised else { return context.write(data, promise: promise) }
        guard case .byteBuffer(var buffer) = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        advertised = nil
        Self.set(value, inSettings: &buffer)
        context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
    }

    /// Rewrites SETTINGS_MAX_CONCURRENT_STREAMS (0x3) and SETTINGS_MAX_HEADER_LIST_SIZE (0x6)
    /// in `buffer` when it holds exactly one SETTINGS frame (not an ACK), as NIO's preamble does.
    static func set(_ values: Advertised, inSettings buffer: inout ByteBuffer) {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= 9,
            let length = buffer.getInteger(at: start, as: UInt32.self).map({ Int($0 >> 8) }),
            buffer.getInteger(at: start + 3, as: UInt8.self) == 0x4,
            buffer.getInteger(at: start + 4, as: UInt8.self).map({ $0 & 0x1 == 0 }) == true,
            buffer.readableBytes == 9 + length, length % 6 == 0
        else { return }
        var entry = start + 9
        while entry < start + 9 + length {
            switch buffer.getInteger(at: entry, as: UInt16.self) {
            case 0x3: buffer.setInteger(values.maxConcurrentStreams, at: entry + 2)
            case 0x6: buffer.setInteger(values.maxHeaderListSize, at: entry + 2)
            default: break
            }
            entry += 6
        }
    }
}

/// What ``HTTP2WireGuard`` reports.
protocol HTTP2WireObserver: AnyObject {
    /// NIO's handler starts (`true`) or finished (`false`) decoding a read.
    func wireRead(decoding: Bool)
    /// After each read: whether a header block is partly received.
    func headerBlock(pending: Bool)
}

/// Frame boundaries in the client's bytes: the 24-byte preface, then 9-byte frame headers whose
/// length says where the next one starts.
///
/// It also caps SETTINGS_HEADER_TABLE_SIZE (0x1) in the client's SETTINGS at
/// ``encoderTableLimit``: the client's value bounds the table of the HPACK encoder for the
/// proxy's responses (RFC 9113 §6.5.2: the encoder may use less), and NIO sizes its encoder to
/// whatever the client says (found by an audit: 4 GiB announced, every distinct response field
/// value was kept for the connection's life, 30 MB and growing per connection). Go's net/http2
/// and nghttp2 cap it at 4,096 bytes too.
struct HTTP2FrameScanner {
    /// The largest HPACK encoder table a client can make the proxy keep.
    static let encoderTableLimit: UInt32 = 4096

    private var prefaceLeft = 24
    /// The current frame header's bytes while it is incomplete.
    private var header: [UInt8] = []
    private var payloadLeft = 0
    private var frameType: UInt8 = 0
    /// The current frame is a SETTINGS frame (not an ACK) of whole entries: its payload is
    /// walked entry by entry.
    private var settingsEntries = false
    /// A HEADERS, PUSH_PROMISE or CONTINUATION frame without END_HEADERS was received.
    private var blockOpen = false

    /// A header block, or a frame other than DATA, is partly received.
    var headerBlockPending: Bool {
        blockOpen || !header.isEmpty || (payloadLeft > 0 && frameType != 0x0)
    }

    /// Walks `bytes`, capping the header table size where a SETTINGS frame sets it. Returns how
    /// many of them NIO may have now when they end inside a SETTINGS entry (the rest is to be
    /// given again, in front of the next read's), else `nil`: all of them.
    mutating func scan(_ bytes: UnsafeMutableRawBufferPointer) -> Int? {
        var index = 0
        if prefaceLeft > 0 {
            let skipped = min(prefaceLeft, bytes.count)
            prefaceLeft -= skipped
            index = skipped
        }
        while index < bytes.count {
            if payloadLeft > 0 && settingsEntries {
                guard bytes.count - index >= 6 else { return index }
                if bytes[index] == 0 && bytes[index + 1] == 0x1 {
                    let value = UInt32(bytes[index + 2]) << 24 | UInt32(bytes[index + 3]) << 16 | UInt32(bytes[index + 4]) << 8 | UInt32(bytes[index + 5])
                    if value > Self.encoderTableLimit {
                        let limit = Self.encoderTableLimit
                        (bytes[index + 2], bytes[index + 3], bytes[index + 4], bytes[index + 5]) =
                            (UInt8(limit >> 24), UInt8(truncatingIfNeeded: limit >> 16), UInt8(truncatingIfNeeded: limit >> 8), UInt8(truncatingIfNeeded: limit))
                    }
                }
                payloadLeft -= 6
                index += 6
                continue
            }
            if payloadLeft > 0 {
                let skipped = min(payloadLeft, bytes.count - index)
                payloadLeft -= skipped
                index += skipped
                continue
            }
            if header.isEmpty && bytes.count - index >= 9 {
                frame(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 9)]))
                index += 9
                continue
            }
            header.append(bytes[index])
            index += 1
            if header.count == 9 {
                header.withUnsafeBytes { frame($0) }
                header.removeAll(keepingCapacity: true)
            }
        }
        return nil
    }

    private mutating func frame(_ header: UnsafeRawBufferPointer) {
        payloadLeft = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        frameType = header[3]
        settingsEntries = frameType == 0x4 && header[4] & 0x1 == 0 && payloadLeft % 6 == 0
        let endHeaders = header[4] & 0x4 != 0
        switch frameType {
        case 0x1, 0x5, 0x9:  // HEADERS, PUSH_PROMISE, CONTINUATION
            blockOpen = !endHeaders
        default:
            break
        }
    }
}
