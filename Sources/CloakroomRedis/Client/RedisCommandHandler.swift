import NIOCore
import NIOSSL

/// Matches replies to commands on one connection: commands go out in order, replies come back
/// in the same order, so the oldest command waiting gets the next reply. Any number of commands
/// may be in flight (pipelining).
///
/// Failure handling is all-or-nothing, because order is the only link between a reply and its
/// command: a decoding error, an unexpected reply, a command past its timeout or the channel
/// closing fails every command in flight and closes the channel. Commands enqueued afterwards
/// fail at once.
///
/// Writes are flushed once per event-loop pass: a command enqueued while a flush is already
/// scheduled rides along with it, so concurrent callers share a `writev`.
///
/// In subscription mode (``enterSubscriptionMode(_:)``), pub/sub messages go to the message
/// callback; everything else (the `SUBSCRIBE` confirmation, `PING` replies) still answers the
/// oldest command, so the timeout covers a subscriber connection too.
///
/// Error replies can also be shown to an observer, after the command they answer has its
/// reply: with Sentinel, `-READONLY` or `-LOADING` says the connection's server is not (or not
/// yet) a usable primary, whichever command met it.
///
/// - Important: every method runs on the channel's event loop; ``RedisConnection`` reaches the
///   handler only through an `NIOLoopBound`.
final class RedisCommandHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = ByteBuffer

    /// Where a reply goes: a task waiting for one command, or a promise (for batches, whose
    /// commands must be enqueued together, in order).
    enum Reply {
        case continuation(CheckedContinuation<RESPValue, any Error>)
        case promise(EventLoopPromise<RESPValue>)

        func succeed(_ value: RESPValue) {
            switch self {
            case .continuation(let continuation): continuation.resume(returning: value)
            case .promise(let promise): promise.succeed(value)
            }
        }

        func fail(_ error: RedisClientError) {
            switch self {
            case .continuation(let continuation): continuation.resume(throwing: error)
            case .promise(let promise): promise.fail(error)
            }
        }
    }

    private struct Pending {
        var reply: Reply
        var deadline: NIODeadline
    }

    private let commandTimeout: TimeAmount
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var context: ChannelHandlerContext?
    /// Set once the connection can no longer carry commands; new ones fail with it.
    private var failure: RedisClientError?
    private var timer: Scheduled<Void>?
    private var flushScheduled = false
    private var onMessage: (@Sendable (RESPValue) -> Void)?
    private let errorObserver: (@Sendable (ByteBuffer) -> Void)?

    /// - Parameter errorObserver: called with the message of every error reply, after the
    ///   command it answers has been given it.
    init(commandTimeout: TimeAmount, errorObserver: (@Sendable (ByteBuffer) -> Void)? = nil) {
        self.commandTimeout = commandTimeout
        self.errorObserver = errorObserver
    }

    /// Commands waiting for their reply.
    var inFlight: Int { pending.count }

    // MARK: Commands

    func enqueue(_ command: ByteBuffer, reply: Reply) {
        guard let context, failure == nil else {
            reply.fail(failure ?? .connectionClosed)
            return
        }
        pending.append(Pending(reply: reply, deadline: context.eventLoop.now + commandTimeout))
        armTimer(context)
        context.write(wrapOutboundOut(command), promise: nil)
        if !flushScheduled {
            flushScheduled = true
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let handler = bound.value
                handler.flushScheduled = false
                handler.context?.flush()  // nil once removed from the pipeline
            }
        }
    }

    /// From now on, pub/sub messages go to `onMessage` instead of answering commands.
    func enterSubscriptionMode(_ onMessage: @escaping @Sendable (RESPValue) -> Void) {
        self.onMessage = onMessage
    }

    /// Fails what is in flight with `error` and closes the channel.
    func fail(_ error: RedisClientError) {
        failAll(error)
        context?.close(promise: nil)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if let onMessage, Self.isMessage(value) {
            onMessage(value)
            return
        }
        if onMessage == nil, case .push = value {
            return  // out-of-band data nobody asked for (RESP3 only)
        }
        guard let head = pending.popFirst() else {
            fail(.protocolError("a reply arrived with no command waiting for it"))
            return
        }
        head.reply.succeed(value)
        if let errorObserver, case .error(let message) = value { errorObserver(message) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let decoding = error as? RESPDecodingError {
            fail(.protocolError(decoding.description))
        } else if error is NIOSSLError || error is BoringSSLError {
            fail(.connectionFailed("TLS: \(Self.tlsReason(error))"))
        } else {
            fail(.connectionFailed(String(describing: error)))
        }
    }

    /// BoringSSL's reason (`CERTIFICATE_VERIFY_FAILED`), without the source paths its errors
    /// carry, so an operator sees why the handshake failed.
    private static func tlsReason(_ error: any Error) -> String {
        let text = String(describing: error)
        var reasons: [Substring] = []
        var rest = text[...]
        while let marker = rest.range(of: "OPENSSL_internal:") {
            let tail = rest[marker.upperBound...]
            let end = tail.firstIndex(where: { $0 == " " || $0 == "]" || $0 == ")" }) ?? tail.endIndex
            reasons.append(tail[..<end])
            rest = tail[end...]
        }
        guard !reasons.isEmpty else { return text }
        let joined = reasons.joined(separator: ", ")
        return joined.contains("CERTIFICATE_VERIFY_FAILED") ? "certificate verification failed (\(joined))" : joined
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    // MARK: Internals

    private func failAll(_ error: RedisClientError) {
        if failure == nil { failure = error }
        timer?.cancel()
        timer = nil
        while let head = pending.popFirst() {
            head.reply.fail(error)
        }
    }

    /// One timer per connection, set for the oldest command's deadline. When it fires early
    /// (that command was answered), it is set again for the new oldest.
    private func armTimer(_ context: ChannelHandlerContext) {
        guard timer == nil, let head = pending.first else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: head.deadline) {
            let handler = bound.value
            handler.timer = nil
            guard let head = handler.pending.first, let context = handler.context else { return }
            if head.deadline <= context.eventLoop.now {
                handler.fail(.commandTimeout)
            } else {
                handler.armTimer(context)
            }
        }
    }

    /// A pub/sub message: `["message", channel, payload]` as an array (RESP2) or a push (RESP3).
    private static func isMessage(_ value: RESPValue) -> Bool {
        switch value {
        case .array(let elements), .push(let elements):
            guard elements.count == 3, case .bulkString(let kind) = elements[0] else { return false }
            return kind.readableBytesView.elementsEqual("message".utf8)
        default:
            return false
        }
    }
}
