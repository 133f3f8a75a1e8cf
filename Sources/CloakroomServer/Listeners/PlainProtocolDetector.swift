import CloakroomProxy
import NIOCore

/// The first handler on a plain (non-TLS) connection: HTTP/2 with prior knowledge (h2c, RFC
/// 9113 §3.3) when the client opens with the HTTP/2 connection preface, HTTP/1.1 otherwise.
/// It looks only at the first bytes, then installs the chosen pipeline behind itself, hands it
/// what it read and leaves. A client that sends nothing decisive within
/// `client.header_timeout` is disconnected.
final class PlainProtocolDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let runtime: RuntimeHolder
    private let client: ClientInfo
    private var received: ByteBuffer?
    private var deadline: Scheduled<Void>?
    private var decided = false

    init(runtime: RuntimeHolder, client: ClientInfo) {
        self.runtime = runtime
        self.client = client
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: runtime.current.limits.headerTimeout.timeAmount) {
            bound.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !decided else { return context.fireChannelRead(data) }
        if received == nil {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        let view = received!.readableBytesView
        let compared = min(view.count, Self.preface.count)
        let isPrefix = view.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        guard !isPrefix || compared == Self.preface.count else { return }  // need more bytes
        decide(context: context, http2: isPrefix)
    }

    private func decide(context: ChannelHandlerContext, http2: Bool) {
        decided = true
        deadline?.cancel()
        do {
            if http2 {
                try HTTP2Pipeline.configure(context.channel, runtime: runtime, client: client)
            } else {
                try HTTP1Pipeline.configure(context.channel, runtime: runtime, client: client)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        if let received {
            self.received = nil
            context.fireChannelRead(wrapInboundOut(received))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }
}
