import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Foundation
import Logging
import NIOCore
import NIOEmbedded

@testable import CloakroomServer

/// The HTTP/2 pipeline (``HTTP2Pipeline``) on an `EmbeddedChannel`: raw frames in, raw frames
/// out, no sockets, time advanced by hand. Requests go through the whole exchange engine to the
/// `echo` upstream, which the proxy answers itself. `POST /login` is the built-in login, which
/// reads its body before answering: a stream that stays open while its body is awaited.
final class HTTP2Fixture {
    static let usersFile: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-h2-users-\(getpid()).yaml").path
        let hash = "scrypt$N=32768,r=8,p=1$zqVAVQuPVc862Q079yeYQw==$204dt+UxQmJfprhLybOQPArg2R2rob+3aVCUlI/TEB4="
        try! "users:\n  demo:\n    password: \"\(hash)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    let channel = EmbeddedChannel()
    var client = RawHTTP2Client()
    let lines: CapturingLogHandler.Lines
    let store: MemorySessionStore
    let policy: ProxyPolicy
    /// Every frame the server sent so far.
    private(set) var frames: [RawFrame] = []

    init(adjust: (inout Configuration) -> Void = { _ in }) throws {
        var session = SessionSettings()
        session.secrets = [String(repeating: "s", count: 32)]
        var configuration = Configuration(
            listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))], session: session,
            routes: [
                Route(path: "/echo/", upstream: "echo", auth: .optional), Route(path: "/private/", upstream: "echo", auth: .required),
            ],
            upstreams: ["echo": Upstream(kind: .echo)])
        configuration.login.usersFile = Self.usersFile
        configuration.client.headerTimeout = .seconds(10)
        configuration.client.idleTimeout = .seconds(75)
        configuration.client.bodyTimeout = .seconds(60)
        adjust(&configuration)
        store = MemorySessionStore(
            maxSessions: 10, timeouts: SessionTimeouts(idle: .seconds(60), absolute: .seconds(600), touchInterval: .seconds(1)),
            clock: ManualWallClock())
        let (accessLog, lines) = CapturingLogHandler.logger()
        self.lines = lines
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let factory = RuntimeFactory(
            store: store, logger: quiet, observability: .init(accessLog: accessLog), clock: ManualWallClock(),
            eventLoops: [channel.eventLoop], watch: SessionWatch(eventLoops: [channel.eventLoop]),
            fallbackSecret: Array(repeating: 1, count: 32), reload: ReloadHook(isAvailable: false))
        let runtime = try factory.make(configuration)
        policy = runtime.policy
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 1)).wait()
        try HTTP2Pipeline.configure(channel, runtime: RuntimeHolder(runtime), client: ClientInfo(address: "192.0.2.9", isSecure: true))
    }

    /// Sends `bytes` as one read; returns the frames the server sent in answer.
    @discardableResult
    func send(_ bytes: [UInt8]) throws -> [RawFrame] {
        if channel.isActive { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
        return try read()
    }

    /// The connection preface and SETTINGS, and the ACK of the server's SETTINGS.
    @discardableResult
    func open() throws -> [RawFrame] {
        try send(RawHTTP2Client.opening + RawFrame.settings(ack: true).bytes)
    }

    /// Frames sent since the last call, after running what the event loop has due.
    func read() throws -> [RawFrame] {
        channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        let new = client.frames(bytes)
        frames += new
        return new
    }

    /// Moves the event loop's clock on by `amount`.
    func advance(_ amount: TimeAmount) throws -> [RawFrame] {
        channel.embeddedEventLoop.advanceTime(by: amount)
        return try read()
    }

    /// A built-in login POST whose body has started and not ended: the stream stays open.
    func openLogin(_ stream: UInt32, body: String = "username=de") throws {
        let fields = RawHTTP2Client.requestFields(
            method: "POST", path: "/login", extra: [("content-type", "application/x-www-form-urlencoded")])
        try send(client.headers(stream, fields, end: false).bytes + RawFrame.data(stream, Array(body.utf8)).bytes)
    }

    /// Sends a request on `stream` and returns what that stream got back.
    func exchange(_ stream: UInt32, _ fields: [(String, String)] = RawHTTP2Client.requestFields(), body: [UInt8]? = nil) throws
        -> RawStreamResponse
    {
        let bytes = client.request(stream, fields, body: body)
        return responses(try send(bytes))[stream] ?? RawStreamResponse()
    }

    func responses(_ frames: [RawFrame]) -> [UInt32: RawStreamResponse] { client.responses(frames) }

    var goAway: RawFrame? { frames.last { $0.type == RawFrame.Kind.goAway } }

    var loggedOutcomes: [String] {
        lines.all.filter { $0.hasPrefix("info request ") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("outcome=") }.map { String($0.dropFirst("outcome=".count)) }
        }
    }
}
