import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

extension HTTP1ProxyHandler {
    /// What the handler knows about the request in flight. A class: the phases pass it around
    /// and update it in place, and copying a struct this size cost a retain and a release per
    /// field each time.
    final class Current {
        var exchange: Exchange?
        var version: HTTPVersion
        var keepAlive: Bool
        var isHEAD: Bool
        var idempotent: Bool
        var expectContinue: Bool
        /// How the body goes upstream (``UpstreamFraming/decide(method:contentLength:chunked:bodyMayFollow:)``).
        var framing: UpstreamFraming
        var hasBody: Bool { framing.hasBody }
        /// The `Upgrade` value of an HTTP/1.1 upgrade request.
        var upgrade: String? = nil
        var requestEnded = false
        var bodyBytes = 0
        var pendingBody: [ByteBuffer] = []
        /// The client's field lines the policy does not read (``ClientRequestHead/lines``).
        var requestLines = ByteBuffer()
        var upstreamRequest: UpstreamRequest?
        var upstream: UpstreamConnection?
        /// The pool the request's upstream connection comes from (and returns to).
        var pool: UpstreamPool?
        var reusedConnection = false
        var retried = false
        var closeAfterResponse = false
        var heldResponseBody: [ByteBuffer] = []
        var heldResponseEnd = false
        /// The response written downstream is chunked by the proxy (HTTP/1.1, no length).
        var responseChunked = false
        /// The response written downstream has no body (HEAD, 1xx, 204, 304).
        var responseBodyless = false
        // For the access log and metrics.
        var method: HTTPRequest.Method = .get
        var startedAt = NIODeadline.now()
        var upstreamSentAt: NIODeadline?
        var status = 0
        var bytesOut = 0
        var contentType: String?
        /// The body of a request answered locally, bounded by ``BuiltinLogin/maxBodyBytes``.
        var localBody: [UInt8] = []

        init(
            exchange: Exchange? = nil, version: HTTPVersion, keepAlive: Bool, isHEAD: Bool, idempotent: Bool,
            expectContinue: Bool, framing: UpstreamFraming, method: HTTPRequest.Method = .get, contentType: String? = nil
        ) {
            self.exchange = exchange
            self.version = version
            self.keepAlive = keepAlive
            self.isHEAD = isHEAD
            self.idempotent = idempotent
            self.expectContinue = expectContinue
            self.framing = framing
            self.method = method
            self.contentType = contentType
        }
    }
}
