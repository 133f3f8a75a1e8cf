import NIOCore

/// One side of an upgraded connection (WebSocket or any HTTP/1.1 `Upgrade`): bytes read here
/// are written to the partner, with back-pressure (a side stops reading while its partner
/// cannot take more), and either side closing closes both.
///
/// Both channels live on the same event loop (upstream pools are per loop), so the two
/// handlers call each other directly.
///
/// The client side also:
/// - closes the tunnel after `client.tunnel_idle_timeout` without a byte either way;
/// - for WebSocket, ends with a close frame when it can: on a session that ended (1008) and on
///   shutdown (1001), written at a frame boundary of the upstream's stream (tracked by
///   ``WebSocketFrameBoundary``), else the connection is simply closed.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side { case client, upstream }

    let side: Side
    var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var closing = false
    /// Client side only: where the upstream's WebSocket frames begin and end; `nil` for other
    /// protocols.
    private var toClientFrames: WebSocketFrameBoundary?
    private var idleTimer = LazyTimer()
    private let idleTimeout: TimeAmount?
    /// When a byte last went either way: the tunnel closes `idleTimeout` after it.
    private var lastActivity = NIODeadline.now()
    /// Client side only: called once when the tunnel closes (to unwatch the session, log).
    var onClose: (() -> Void)?

    init(side: Side, isWebSocket: Bool = false, idleTimeout: TimeAmount? = nil) {
        self.side = side
        self.idleTimeout = idleTimeout
        self.toClientFrames = side == .client && isWebSocket ? WebSocketFrameBoundary() : nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer.cancel()
        self.context = nil
    }

    // MARK: Bytes in, to the partner

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, !partner.isWritable {
            pendingRead = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, side == .client {
            end(closeCode: 1001, reason: "server shutting down")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Writes bytes of the proxy's own (the 101 head) and flushes.
    func writeRaw(_ buffer: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Passes on bytes that arrived before the switch, read by the HTTP handler that was here.
    func forward(_ leftover: ByteBuffer) {
        lastActivity = .now()
        partner?.partnerWrite(leftover)
        partner?.partnerFlush()
    }

    /// Starts reading once both sides are in place (reads were held during the switch).
    func startReading() {
        guard let context else { return }
        if context.channel.isActive { context.read() } else { context.close(promise: nil) }
    }

    // MARK: Called by the partner

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerWrite(_ buffer: ByteBuffer) {
        guard let context, !closing else { return }
        lastActivity = .now()
        toClientFrames?.consume(buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() { context?.flush() }

    func flush() { context?.flush() }

    private func partnerBecameWritable() {
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    private func partnerClosed() {
        guard let context, !closing else { return }
        closing = true
        // What was already written still goes out before the close.
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: Ending

    /// Ends the tunnel: for WebSocket at a frame boundary, a close frame with `closeCode` first.
    func end(closeCode: UInt16, reason: String) {
        guard let context, !closing else { return }
        closing = true
        partner?.partnerClosed()
        guard let frames = toClientFrames, frames.atBoundary else {
            context.close(promise: nil)
            return
        }
        let frame = WebSocketFrameBoundary.closeFrame(code: closeCode, reason: reason, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func finish() {
        idleTimer.cancel()
        let partner = self.partner
        self.partner = nil
        partner?.partner = nil
        partner?.partnerClosed()
        if let onClose {
            self.onClose = nil
            onClose()
        }
    }

    // MARK: Idle timeout

    private func armIdleTimer() {
        guard let idleTimeout, let context else { return }
        lastActivity = .now()
        idleTimer.arm(at: lastActivity + idleTimeout, on: context.eventLoop, idleCheck)
    }

    /// Closes the tunnel once `idleTimeout` passed since the last byte either way (reads on
    /// either side mark activity on the client side's handler, through `partnerWrite`), else
    /// looks again when that would be: a close comes between T and T plus the timer's slack
    /// after the last byte, never up to 2T as with a fixed period.
    private func idleCheck() {
        guard let idleTimeout, let context, idleTimer.fired(on: context.eventLoop, idleCheck) else { return }
        let due = lastActivity + idleTimeout
        if due <= .now() {
            end(closeCode: 1001, reason: "idle timeout")
        } else {
            idleTimer.arm(at: due, on: context.eventLoop, idleCheck)
        }
    }
}

/// Follows the frame structure of a WebSocket byte stream (RFC 6455 §5.2) without buffering
/// payloads, so a close frame can be inserted between two frames, never inside one.
struct WebSocketFrameBoundary {
    /// Header bytes of the frame being read, until its length is known.
    private var header: [UInt8] = []
    /// Payload bytes still to come in the current frame.
    private var remaining: UInt64 = 0

    var atBoundary: Bool { header.isEmpty && remaining == 0 }

    mutating func consume(_ buffer: ByteBuffer) {
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if remaining > 0 {
                let take = min(UInt64(view.count), remaining)
                view = view.dropFirst(Int(take))
                remaining -= take
                continue
            }
            header.append(view.removeFirst())
            if let length = Self.frameLength(header) {
                header.removeAll(keepingCapacity: true)
                remaining = length
            }
        }
    }

    /// The payload length once `header` holds the whole frame header, else `nil`.
    private static func frameLength(_ header: [UInt8]) -> UInt64? {
        guard header.count >= 2 else { return nil }
        let masked = header[1] & 0x80 != 0
        let short = UInt64(header[1] & 0x7F)
        let extended = short == 126 ? 2 : short == 127 ? 8 : 0
        let total = 2 + extended + (masked ? 4 : 0)
        guard header.count == total else { return nil }
        guard extended > 0 else { return short }
        return header[2..<(2 + extended)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// An unmasked (server-to-client) close frame with a status code and a short reason.
    static func closeFrame(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let reasonBytes = Array(reason.utf8.prefix(123))
        var buffer = allocator.buffer(capacity: 4 + reasonBytes.count)
        buffer.writeInteger(UInt8(0x88))  // FIN, opcode 8 (close)
        buffer.writeInteger(UInt8(2 + reasonBytes.count))
        buffer.writeInteger(code)
        buffer.writeBytes(reasonBytes)
        return buffer
    }
}
