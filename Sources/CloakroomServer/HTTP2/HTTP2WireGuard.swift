import NIOCore

/// Below NIO's HTTP/2 handler, on the connection's bytes: what the frame layer above cannot
/// tell Cloakroom.
///
/// - **Inbound**: walks the frame headers (never the payloads) to know whether a header block
///   is partly received (HEADERS or CONTINUATION without END_HEADERS, or any frame but DATA cut
///   short), which `client.header_timeout` bounds: NIO's decoder shows nothing of it until it is
///   whole. It also marks the span of NIO's processing of each read, so the connection handler
///   can tell errors NIO raises while decoding from any other.
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
        bytes.withUnsafeReadableBytes { scanner.scan($0) }
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
struct HTTP2FrameScanner {
    private var prefaceLeft = 24
    /// The current frame header's bytes while it is incomplete.
    private var header: [UInt8] = []
    private var payloadLeft = 0
    private var frameType: UInt8 = 0
    /// A HEADERS, PUSH_PROMISE or CONTINUATION frame without END_HEADERS was received.
    private var blockOpen = false

    /// A header block, or a frame other than DATA, is partly received.
    var headerBlockPending: Bool {
        blockOpen || !header.isEmpty || (payloadLeft > 0 && frameType != 0x0)
    }

    mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        if prefaceLeft > 0 {
            let skipped = min(prefaceLeft, bytes.count)
            prefaceLeft -= skipped
            index = skipped
        }
        while index < bytes.count {
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
    }

    private mutating func frame(_ header: UnsafeRawBufferPointer) {
        payloadLeft = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        frameType = header[3]
        let endHeaders = header[4] & 0x4 != 0
        switch frameType {
        case 0x1, 0x5, 0x9:  // HEADERS, PUSH_PROMISE, CONTINUATION
            blockOpen = !endHeaders
        default:
            break
        }
    }
}
