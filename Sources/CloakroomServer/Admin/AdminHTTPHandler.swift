import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Serves the admin listener: collects each request (bodies up to 64 KiB), hands it to
/// ``AdminAPI`` off the event loop, and writes the answer. Pipelining is handled by NIO's
/// `HTTPServerPipelineHandler` in front. Tells the ``ClientTimeoutHandler`` before the codec
/// where each request is, and answers 408 when a body stops coming.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBodyBytes = 64 * 1024

    private let runtime: RuntimeHolder
    private let timeouts: ClientTimeoutHandler
    private var context: ChannelHandlerContext?
    /// IDs for requests that bring no valid `X-Request-Id` (the audit log names the request
    /// behind each session it creates or ends).
    private let requestIDs = RequestIDGenerator()
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// Answered before its body was read (401, 413): what follows of it is dropped until the
    /// connection closes (``answerEarly(context:head:response:)``).
    private var discarding = false
    /// A request is with the API: its answer is still to be written.
    private var answering = false

    init(runtime: RuntimeHolder, timeouts: ClientTimeoutHandler) {
        self.runtime = runtime
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        timeouts.onBodyTimeout = { [weak self] in self?.bodyTimedOut() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeouts.onBodyTimeout = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard !discarding else { return }
            self.head = head
            body = []
            tooLarge = false
            // No header timeout from here; the body clock runs until `.end`, which for a
            // request without a body comes in the same read.
            timeouts.requestHeadReceived()
            timeouts.readingBody()
            // A body is read only for a request that may be served: a declared length past
            // the limit is a 413 and a missing token a 401 at once, as on the public listeners.
            let length = head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
            if length > Self.maxBodyBytes {
                return answerEarly(context: context, head: head, response: .error(.contentTooLarge, "body_too_large"))
            }
            if length > 0 || head.headers.contains(name: "transfer-encoding"),
                let refusal = runtime.current.adminAPI?.refusal(target: head.uri, authorization: head.headers.first(name: "authorization"))
            {
                return answerEarly(context: context, head: head, response: refusal)
            }
            if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }), head.version == .http1_1 {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(var buffer):
            guard !discarding, let head else { return }
            if body.count + buffer.readableBytes > Self.maxBodyBytes {
                tooLarge = true
                return answerEarly(context: context, head: head, response: .error(.contentTooLarge, "body_too_large"))
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body.append(contentsOf: bytes)
            }
        case .end:
            guard !discarding, let head else { return }
            self.head = nil
            timeouts.bodyNotAwaited()
            // RFC 9112 §3.2, as on the public listeners: an HTTP/1.1 request without Host, or
            // with two, is 400, and so is a target with a fragment, and two Authorization
            // fields (which one a token check reads would be a guess).
            let hosts = head.headers[canonicalForm: "host"].count
            guard let method = HTTPRequest.Method(head.method.rawValue), hosts <= 1, head.version != .http1_1 || hosts == 1,
                !head.uri.contains("#"), head.headers["authorization"].count <= 1
            else {
                return write(context: context, head: head, response: .error(.badRequest, "bad_request"), close: true)
            }
            let requestID = head.headers.first(name: "x-request-id").flatMap { RequestID.isValid($0) ? $0 : nil } ?? requestIDs.next()
            let peer = ClientInfo(address: context.channel.remoteAddress?.ipAddress ?? "unknown", isSecure: false)
            let request = AdminAPI.Request(
                method: method, target: head.uri, authorization: head.headers.first(name: "authorization"), body: body,
                client: ClientAddress.derive(peer: peer), userAgent: head.headers.first(name: "user-agent"), requestID: requestID)
            guard let api = runtime.current.adminAPI else {
                return write(context: context, head: head, response: .error(.notFound, "not_found"))
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            answering = true
            Task {
                let response = await api.handle(request)
                loopBound.eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.answering = false
                    handler.write(context: context, head: head, response: response, requestID: requestID)
                }
            }
        }
    }

    /// Bytes that are no HTTP/1.1 request: 400 `{"error":"bad_request"}` with its request ID,
    /// like every other answer here (NIO's own handler sent an empty 400), then close. With
    /// an answer still to be written, the connection just closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if discarding { return }  // what is dropped need not parse; the lingering close ends it
        guard error is HTTPParserError, !answering else { return context.close(promise: nil) }
        let request = head ?? HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        head = nil
        write(context: context, head: request, response: .error(.badRequest, "bad_request"), close: true)
    }

    /// Answers a request whose body is not read, then drops what still comes of it for a while
    /// before closing (a lingering close, as on the public listeners): a client still sending
    /// can read the answer instead of meeting a reset.
    private func answerEarly(context: ChannelHandlerContext, head: HTTPRequestHead, response: AdminAPI.Response) {
        self.head = nil
        discarding = true
        timeouts.bodyNotAwaited()
        write(context: context, head: head, response: response, close: true, linger: true)
    }

    /// `client.body_timeout` passed with the body incomplete: 408, and the connection closes
    /// (the rest of the body will not be read).
    private func bodyTimedOut() {
        guard let context, let head else { return }
        self.head = nil
        write(context: context, head: head, response: .error(.requestTimeout, "request_timeout"), close: true)
    }

    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, response: AdminAPI.Response, requestID: String? = nil, close: Bool = false,
        linger: Bool = false
    ) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        if let contentType = response.contentType { headers.add(name: "Content-Type", value: contentType) }
        // RFC 9110 §8.6: no Content-Length in a 204.
        if response.status != .noContent { headers.add(name: "Content-Length", value: String(response.body.utf8.count)) }
        headers.add(name: "Cache-Control", value: response.cacheControl)
        if let allow = response.allow { headers.add(name: "Allow", value: allow) }
        headers.add(name: "X-Request-Id", value: requestID ?? requestIDs.next())
        if response.status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
        let keepAlive = head.isKeepAlive && !close
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        // `.custom` keeps swift-http-types' phrase, as the public listeners write it (NIO's own
        // table still says `Payload Too Large` for 413, RFC 9110's `Content Too Large`).
        // A 204 keeps NIO's own case: its encoder knows that one has no body, and framed a
        // `.custom` 204 as chunked, with a `0` chunk no client expects (found by an audit: the
        // next answer on a keep-alive connection was then misread).
        let status: HTTPResponseStatus =
            response.status.code == 204
            ? .noContent : .custom(code: UInt(response.status.code), reasonPhrase: response.status.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty && head.method != .HEAD {  // HEAD: the head alone, its Content-Length kept
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        }
        // Before the end is written: writing it lets NIO hand over a pipelined request at once,
        // whose head must find the idle clock already running, not start it afterwards.
        if keepAlive { timeouts.responseCompleted() }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        guard !keepAlive else { return }
        guard linger else { return done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        done.assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: HTTP1ConnectionHandler.lingerTime) { context.close(promise: nil) }
        }
    }
}
