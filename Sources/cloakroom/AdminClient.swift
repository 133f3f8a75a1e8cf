import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for the admin API: one request per connection, whole response
/// collected. Small on purpose: the CLI needs nothing more, and it keeps libcurl out of the binary.
struct AdminClient {
    struct Response {
        var status: Int
        var body: String
    }

    enum Failure: Error, CustomStringConvertible {
        case badURL(String)
        case unreachable(String, String)
        case incomplete(String)

        var description: String {
            switch self {
            case .badURL(let url): return "admin URL \"\(url)\" must look like http://HOST:PORT"
            case .unreachable(let url, let why): return "admin API unreachable at \(url): \(why)"
            case .incomplete(let url): return "admin API at \(url) closed the connection before answering"
            }
        }
    }

    let base: String
    let host: String
    let port: Int
    let token: String

    init(url: String, token: String) throws {
        guard url.hasPrefix("http://") else { throw Failure.badURL(url) }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" }
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
        guard !host.isEmpty, let number = Int(port) else { throw Failure.badURL(url) }
        self.base = url
        self.host = String(host)
        self.port = number
        self.token = token
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
        if case ChannelError.connectTimeout = error { return "no answer within 5 seconds" }
        return "\(error)"
    }

    /// Sends one request; `body`, when given, goes as `application/json`.
    func send(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Response.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
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
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !bytes.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        do {
            return try await promise.futureResult.get()
        } catch {
            throw Failure.incomplete(base)
        }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Response>
        var status = 0
        var body = ""
        var done = false

        init(promise: EventLoopPromise<Response>) { self.promise = promise }

        private func finish(_ result: Result<Response, any Error>) {
            guard !done else { return }
            done = true
            promise.completeWith(result)
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
