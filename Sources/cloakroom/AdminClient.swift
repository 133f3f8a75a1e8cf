import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for the admin API: one request per connection, whole response
/// collected. Small on purpose: the CLI needs nothing more, and it keeps libcurl out of the binary.
///
/// Every request has a deadline (``timeout``, from connecting to the last byte of the answer)
/// and connecting alone at most ``connectLimit`` of it: an admin API that accepts the connection
/// and never answers (wedged, or a port that is not HTTP) must not hang the command forever.
struct AdminClient {
    struct Response {
        var status: Int
        var body: String
    }

    enum Failure: Error, CustomStringConvertible {
        case badURL(String)
        case credentialsInURL
        case unreachable(String, String)
        case incomplete(String)
        case timedOut(String, Duration)

        var description: String {
            switch self {
            case .badURL(let url): return "admin URL \"\(url)\" must look like http://HOST:PORT or http://HOST:PORT/PATH"
            case .credentialsInURL: return "admin URL must not carry a user or a password (not shown); give the token with --token"
            case .unreachable(let url, let why): return "admin API unreachable at \(url): \(why)"
            case .incomplete(let url): return "admin API at \(url) closed the connection before answering"
            case .timedOut(let url, let limit):
                return "admin API at \(url) did not answer within \(AdminClient.describe(limit)) (CLOAKROOM_ADMIN_TIMEOUT)"
            }
        }
    }

    let base: String
    let host: String
    let port: Int
    /// The URL's path without its trailing slash (`/cloakroom/admin`, or empty): the admin API
    /// reached under a path of a reverse proxy. Every request's path goes after it.
    let prefix: String
    let token: String
    /// The whole request's deadline, connecting included (`CLOAKROOM_ADMIN_TIMEOUT`).
    let timeout: Duration

    /// The default ``timeout``: a listing of many sessions from a remote store can take seconds.
    static let defaultTimeout = Duration.seconds(30)
    /// Connecting takes at most this (or ``timeout``, when shorter): a listener that does not
    /// accept within it is not coming.
    static let connectLimit = Duration.seconds(10)

    init(url: String, token: String, timeout: Duration = defaultTimeout) throws {
        guard url.hasPrefix("http://") else { throw Failure.badURL(url) }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" }
        let path = url.dropFirst("http://".count + authority.count)
        // `user:password@host` would go out as a host name to resolve, and be echoed in errors.
        guard !authority.contains("@") else { throw Failure.credentialsInURL }
        // A query or a fragment cannot go before each request's own path and query.
        guard !path.contains("?"), !path.contains("#") else { throw Failure.badURL(url) }
        let (host, port): (Substring, Substring)
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
            port = authority[close...].dropFirst(2)
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            (host, port) = (authority, "80")
        }
        // A port past 65535 would wrap to another one (found by an audit: the token went there).
        guard !host.isEmpty, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber), let number = Int(port), (1...65_535).contains(number)
        else { throw Failure.badURL(url) }
        self.base = url
        self.host = String(host)
        self.port = number
        var prefix = String(path)
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.prefix = prefix
        self.token = token
        self.timeout = timeout
    }

    /// `30s`, `500ms`: a limit as `CLOAKROOM_ADMIN_TIMEOUT` spells it.
    static func describe(_ limit: Duration) -> String {
        let milliseconds = limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// Why a connection failed, in words for the operator: the system's message for the
    /// socket error ("connection refused"), not NIO's error values.
    static func reason(_ error: any Error) -> String {
        if let failure = error as? NIOConnectionError {
            if let first = failure.connectionErrors.first { return reason(first.error) }
            if let dns = failure.dnsAError ?? failure.dnsAAAAError { return "cannot resolve \(failure.host): \(reason(dns))" }
            return "no address to connect to for \(failure.host)"
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if case ChannelError.connectTimeout(let limit) = error {
            return "no connection within \(describe(.nanoseconds(limit.nanoseconds)))"
        }
        return "\(error)"
    }

    /// Sends one request to ``prefix`` + `path`; `body`, when given, goes as `application/json`.
    func send(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Response.self)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let (base, timeout) = (base, timeout)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(min(timeout, Self.connectLimit)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            Collector(promise: promise, deadline: deadline, timedOut: .timedOut(base, timeout)))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw Failure.unreachable(base, Self.reason(error))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Authorization", value: "Bearer \(token)")
        let bytes = Array((body ?? "").utf8)
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Content-Length", value: "\(bytes.count)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: prefix + path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !bytes.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        do {
            return try await promise.futureResult.get()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.incomplete(base)
        }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Response>
        let deadline: NIODeadline
        let timedOut: Failure
        var status = 0
        var body = ""
        var done = false
        var timer: Scheduled<Void>?

        init(promise: EventLoopPromise<Response>, deadline: NIODeadline, timedOut: Failure) {
            self.promise = promise
            self.deadline = deadline
            self.timedOut = timedOut
        }

        private func finish(_ result: Result<Response, any Error>) {
            guard !done else { return }
            done = true
            timer?.cancel()
            promise.completeWith(result)
        }

        /// Connected: the rest of the request must be done by the deadline, or it fails with
        /// ``Failure/timedOut(_:_:)`` and the connection is closed. (Connecting has its own,
        /// shorter limit.)
        func channelActive(context: ChannelHandlerContext) {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(deadline: deadline) {
                let (collector, context) = bound.value
                collector.finish(.failure(collector.timedOut))
                context.close(promise: nil)
            }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(let buffer): body += String(buffer: buffer)
            case .end: finish(.success(Response(status: status, body: body)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(ChannelError.eof))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(error))
            context.close(promise: nil)
        }
    }
}
