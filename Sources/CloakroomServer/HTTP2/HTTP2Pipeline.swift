import CloakroomConfig
import CloakroomProxy
import NIOCore
import NIOHTTP2

/// HTTP/2 on a client connection (after ALPN chose `h2`, or the h2c preface):
///
/// ```
/// bytes ─ FlushCoalescer ─ HTTP2WireGuard ─ NIOHTTP2Handler (frames) ─ HTTP2ConnectionHandler ─ streams
/// ```
///
/// NIO's handler runs in frame mode, without a stream multiplexer: no channel or pipeline per
/// stream. ``HTTP2ConnectionHandler`` serves the streams, each driving an ``ExchangeDriver``
/// like an HTTP/1.1 connection does, so routing, the session lookup, identity headers, control
/// headers and upstream forwarding exist once. Upstreams stay HTTP/1.1 through the same pools.
///
/// Limits against known attacks: `client.max_concurrent_streams` (advertised; streams past it
/// refused with REFUSED_STREAM), the header list size (`client.max_header_bytes`: 431 on the
/// stream, up to ``decodedHeaderListSize(_:)``; a connection error past that), at most 5
/// CONTINUATION frames in a row (CONTINUATION flood), at most 200 stream resets per 30 s
/// (rapid reset, CVE-2023-44487), and NIO's control-frame rate limit and glitch counter.
enum HTTP2Pipeline {
    /// Each stream's inbound window (SETTINGS_INITIAL_WINDOW_SIZE).
    static let streamWindow = 65535

    /// The largest header list NIO decodes: twice `max_header_bytes`, at least 64 KiB. Heads
    /// between the two get 431; a block past this one is a connection error (COMPRESSION_ERROR),
    /// as it must be, since HPACK state cannot be kept without decoding it.
    static func decodedHeaderListSize(_ maxHeaderBytes: Int) -> Int {
        min(max(2 * maxHeaderBytes, 64 * 1024), Int(Int32.max))
    }

    static func configure(_ channel: any Channel, runtime: RuntimeHolder, client: ClientInfo) throws {
        let current = runtime.current
        let limits = current.limits
        let advertised = limits.maxConcurrentStreams
        var connectionSettings = NIOHTTP2Handler.ConnectionConfiguration()
        connectionSettings.initialSettings = [
            // What NIO enforces; the wire guard advertises `advertised`. The slack covers
            // streams refused while their RST_STREAM waits in NIO's buffers (a client not reading).
            HTTP2Setting(parameter: .maxConcurrentStreams, value: min(2 * advertised + 100, Int(Int32.max))),
            // What NIO decodes; the wire guard advertises `max_header_bytes`, and a head over
            // that (up to this) gets 431 on its stream instead of a connection error.
            HTTP2Setting(parameter: .maxHeaderListSize, value: decodedHeaderListSize(limits.maxHeaderBytes)),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
        ]
        connectionSettings.maximumSequentialContinuationFrames = 5
        // Frames still in flight on a stream this side reset (a refused stream's DATA, a
        // response that ended before its request) are ignored while NIO remembers the reset;
        // past that they are a connection error. Room for every stream a client may have open.
        connectionSettings.maximumRecentlyResetStreams = max(32, 2 * advertised)
        // RFC 9113 §8.2–8.3 is checked in Cloakroom's own pass over each block (HTTP2FieldRules):
        // NIO's walked every block again, both directions, for about a tenth of a request's CPU.
        // Outbound blocks are built from fields already checked (upstream heads parsed and
        // filtered, lower-cased names) or made by the proxy.
        connectionSettings.headerBlockValidation = .disabled
        // A request body that does not add up to its content-length is the stream's to judge
        // (``HTTP2ServerStream``): a 400 the client can read, then the reset; NIO's check
        // would reset the stream with no answer. Responses are framed by the proxy itself.
        connectionSettings.contentLengthValidation = .disabled
        var streamSettings = NIOHTTP2Handler.StreamConfiguration()
        streamSettings.streamResetFrameRateLimit.maximumCount = 200
        streamSettings.streamResetFrameRateLimit.windowLength = .seconds(30)

        // What the streams share: the client, request IDs (a random prefix per stream would be a
        // getrandom system call per request), the hot path's memos, the response deadlines.
        let connection = ClientConnection(holder: runtime, client: client, isHTTP2: true)
        let settings = HTTP2ConnectionHandler.Settings(
            maxConcurrentStreams: advertised, streamWindow: streamWindow,
            connectionWindow: min(max(advertised, 1) * streamWindow, HTTP2InboundWindow.maxSize),
            headerTimeout: limits.headerTimeout.timeAmount, idleTimeout: limits.idleTimeout.timeAmount,
            bodyTimeout: limits.bodyTimeout.timeAmount, maxHeaderListSize: limits.maxHeaderBytes, lingerBytes: max(1 << 20, limits.maxBodyBytes))
        let handler = HTTP2ConnectionHandler(connection: connection, eventLoop: channel.eventLoop, settings: settings)
        let http2 = NIOHTTP2Handler(
            mode: .server, frameDelegate: handler, connectionConfiguration: connectionSettings, streamConfiguration: streamSettings)
        let guardHandler = HTTP2WireGuard(
            advertised: .init(maxConcurrentStreams: UInt32(advertised), maxHeaderListSize: UInt32(clamping: limits.maxHeaderBytes)))
        guardHandler.observer = handler

        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        try sync.addHandler(guardHandler)
        try sync.addHandler(http2)
        try sync.addHandler(handler)
    }
}
