import NIOCore

/// Below the HTTP/2 handler of a connection: turns the flushes of one event-loop tick into one.
///
/// Every stream that completes a response flushes, and an HTTP/2 stream's flush flushes the
/// whole connection: with many streams in flight, responses that completed in the same tick
/// (one epoll batch of upstream reads) would each cost a TLS record and a `write` call. Writes
/// pass straight through; the flush runs once, after the tick's other work.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any

    private var scheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        context.eventLoop.assumeIsolated().execute {
            guard self.scheduled else { return }
            self.scheduled = false
            context.flush()
        }
    }

    /// A close never drops what was written before it (a GOAWAY, the last response): the
    /// pending flush runs first, as it would have without coalescing.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled {
            scheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
