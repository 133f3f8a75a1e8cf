import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOHTTPTypesHTTP2

/// HTTP/2 on a client connection (after ALPN chose `h2`).
///
/// Each stream gets NIO's HTTP/2 → swift-http-types message codec and an ``HTTP2StreamBridge``,
/// which drives the stream's exchange with the same ``ExchangeDriver`` as an HTTP/1.1
/// connection, so routing, the session lookup, identity headers, control headers and upstream
/// forwarding exist once. Upstreams stay HTTP/1.1 through the same pools.
///
/// RFC 9113 rules enforced by `NIOHTTP2Handler` (header block validation is on): pseudo-headers
/// present, valid and first; connection-specific fields (`connection`, `keep-alive`,
/// `transfer-encoding`, `upgrade`, `te` other than `trailers`) reset the stream with
/// PROTOCOL_ERROR before any handler sees the request; `content-length` must match the DATA.
/// The bridge takes the authority from `:authority` (or `host`).
///
/// Limits against known attacks: `client.max_concurrent_streams`, the header list size
/// (`client.max_header_bytes`), at most 5 CONTINUATION frames in a row (CONTINUATION flood),
/// at most 200 stream resets per 30 s (rapid reset, CVE-2023-44487), and NIO's control-frame
/// rate limit and glitch counter. Flow control gives back-pressure: a stream's window is only
/// re-opened as the proxy handler reads, which it stops doing while the upstream cannot take
/// more.
enum HTTP2Pipeline {
    static func configure(_ channel: any Channel, runtime: RuntimeHolder, client: ClientInfo) throws {
        let limits = runtime.current.limits
        var settings = NIOHTTP2Handler.ConnectionConfiguration()
        settings.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: 65535),
        ]
        settings.maximumSequentialContinuationFrames = 5
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.streamResetFrameRateLimit.maximumCount = 200
        stream.streamResetFrameRateLimit.windowLength = .seconds(30)

        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: limits.idleTimeout.timeAmount, maxAge: nil,
                maxGraceTime: runtime.current.shutdownTimeout.timeAmount, keepalive: nil))
        // What the streams share: the client, request IDs (a random prefix per stream would be a
        // getrandom system call per request), the hot path's memos, the response deadlines.
        // The streams run on the connection's event loop.
        let shared = NIOLoopBound(ClientConnection(holder: runtime, client: client, isHTTP2: true), eventLoop: channel.eventLoop)
        let deadlines = NIOLoopBound(StreamDeadlines(eventLoop: channel.eventLoop), eventLoop: channel.eventLoop)
        let handler = NIOHTTP2Handler(
            mode: .server, eventLoop: channel.eventLoop, connectionConfiguration: settings,
            streamConfiguration: stream, streamDelegate: manager.http2StreamDelegate
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                try sync.addHandler(HTTP2StreamBridge(connection: shared.value, eventLoop: stream.eventLoop, deadlines: deadlines.value))
            }
        }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        try sync.addHandler(handler)
        try sync.addHandler(manager)
        try sync.addHandler(CloseOnConnectionError())
    }
}

/// NIO's HTTP/2 handler answers a connection error (a flood, a protocol violation) with GOAWAY
/// and reports it down the pipeline, leaving the closing to us: close, so a misbehaving client
/// does not keep its connection.
final class CloseOnConnectionError: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
