import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import NIOCore

/// The client side of exchanges: an HTTP/1.1 connection (``HTTP1ConnectionHandler``) or an
/// HTTP/2 stream (``HTTP2ServerStream``). An ``ExchangeDriver`` writes its response through it
/// and tells it when the exchange is over; the transport decides what that means for the
/// bytes on the wire (framing, `Connection: close`, END_STREAM, a reset).
///
/// - Important: Every method is called on ``eventLoop``.
protocol ExchangeTransport: AnyObject {
    var eventLoop: any EventLoop { get }
    var allocator: ByteBufferAllocator { get }
    /// What the connection's exchanges share.
    var connection: ClientConnection { get }
    /// Inside a read of the client's bytes: upstream writes are flushed at the read's end.
    var inReadBatch: Bool { get }
    /// The client can take more response bytes now.
    var isWritable: Bool { get }
    /// `response_timeout` deadlines for this transport's exchanges.
    var responseDeadlines: any ResponseDeadlines { get }

    /// `driver` serves the transport's request from now on: called as the exchange starts,
    /// before its first phase (which may end it at once).
    func exchangeStarted(_ driver: ExchangeDriver)
    /// `100 Continue`, before the request body is read.
    func writeContinue()
    /// A response head. `closeClient`: the connection ends after this response.
    func writeResponseHead(_ response: HTTPResponse, closeClient: Bool)
    /// An upstream's head that needs only the response field rule, copied as lines; false when
    /// this transport cannot (HTTP/2: the driver builds an `HTTPResponse` instead).
    func writeResponseHead(_ head: UpstreamResponseHead, requestID: String, closeClient: Bool) -> Bool
    func writeResponseBody(_ buffer: ByteBuffer)
    /// The response is whole: its end is written and flushed, and the exchange is over: the
    /// transport reads the next request or closes, as `finish` says.
    func endResponse(_ finish: ExchangeStateMachine.Finish)
    /// Takes back a response head not yet written (held, with nothing after it released, no
    /// flush since): true when it did, and the exchange may still answer with an error. HTTP/2
    /// cannot (its head is encoded at once).
    func retractResponseHead() -> Bool
    /// The exchange ended without a whole response: the connection (or stream) ends now.
    func abort()
    func flush()
    /// More of the request may be read now.
    func resumeReading()
    /// After a 101 (HTTP/1.1 only): the client connection becomes `tunnel`'s.
    func switchToTunnel(head: HTTPResponse, upstream: UpstreamConnection, exchange: Exchange, upgrade: String) throws
}

extension ExchangeTransport {
    /// Transports that encode a head at once (HTTP/2) cannot take it back.
    func retractResponseHead() -> Bool { false }
}

/// What one client connection's exchanges share (on HTTP/2, its streams): who the client is,
/// the runtime in force, request IDs, and the per-connection memos of the hot path.
///
/// - Important: Loop-bound: used on the connection's event loop only.
final class ClientConnection {
    let holder: RuntimeHolder
    /// The runtime of the next exchange, refreshed from ``holder`` when a reload happened.
    private(set) var runtime: ProxyRuntime
    private var generation: Int
    let client: ClientInfo
    let isHTTP2: Bool
    let requestIDs = RequestIDGenerator()
    let traceIDs = TraceIDGenerator()
    /// The last session's attributes, parsed.
    let attributesCache = ParsedAttributesCache()
    /// The last cookie verified.
    let cookieMemo = VerifiedCookieMemo()
    /// The identity fields last injected.
    let injectionMemo = InjectionMemo()
    /// The last valid bearer token.
    let bearerMemo = BearerMemo()
    /// The metric objects last recorded into.
    var metricsMemo = RequestMetrics.Memo()
    /// The server is shutting down: close after the exchange in flight.
    var quiescing = false

    init(holder: RuntimeHolder, client: ClientInfo, isHTTP2: Bool) {
        self.holder = holder
        self.runtime = holder.current
        self.generation = holder.generation
        self.client = client
        self.isHTTP2 = isHTTP2
    }

    /// The runtime for an exchange starting now: a reload applies to the next request on every
    /// connection; one relaxed atomic load when there was none.
    func runtimeForNextExchange() -> ProxyRuntime {
        let current = holder.generation
        if current != generation {
            generation = current
            runtime = holder.current
        }
        return runtime
    }
}
