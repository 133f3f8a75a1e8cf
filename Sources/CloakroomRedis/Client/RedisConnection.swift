#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import NIOSSL

/// One open, logged-in connection to Redis, carrying any number of commands at once.
///
/// Made by a ``RedisConnector``; used by the pool for commands and by the subscriber for
/// pub/sub. Every error a caller sees is a ``RedisClientError``.
///
/// - Important: Safe to use from any task: commands hop to the channel's event loop, where the
///   ``RedisCommandHandler`` orders them.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<RedisCommandHandler>

    init(channel: any Channel, handler: NIOLoopBound<RedisCommandHandler>) {
        self.channel = channel
        self.handler = handler
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    /// Completes when the connection has closed, for whatever reason.
    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends one encoded command (see ``RESPCommandBuilder``) and returns its reply, which may
    /// be an error reply: those are the caller's to interpret.
    func send(_ command: ByteBuffer) async throws -> RESPValue {
        try await withCheckedThrowingContinuation { reply in
            if eventLoop.inEventLoop {
                handler.value.enqueue(command, reply: .continuation(reply))
            } else {
                eventLoop.execute { self.handler.value.enqueue(command, reply: .continuation(reply)) }
            }
        }
    }

    /// ``send(_:)`` for callers on an event loop: no task, and no hop when the caller is on this
    /// connection's loop. The future completes on this connection's loop.
    func sendFuture(_ command: ByteBuffer) -> EventLoopFuture<RESPValue> {
        let promise = eventLoop.makePromise(of: RESPValue.self)
        if eventLoop.inEventLoop {
            handler.value.enqueue(command, reply: .promise(promise))
        } else {
            eventLoop.execute { self.handler.value.enqueue(command, reply: .promise(promise)) }
        }
        return promise.futureResult
    }

    /// Sends `commands` back to back, in this order, and returns their replies in the same
    /// order: one round trip for all of them.
    func send(all commands: [ByteBuffer]) async throws -> [RESPValue] {
        let promises = commands.map { _ in eventLoop.makePromise(of: RESPValue.self) }
        eventLoop.execute {
            for (command, promise) in zip(commands, promises) {
                self.handler.value.enqueue(command, reply: .promise(promise))
            }
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for promise in promises {
            replies.append(try await promise.futureResult.get())
        }
        return replies
    }

    /// Sends a command whose reply must not be an error reply.
    func sendExpectingSuccess(_ command: ByteBuffer) async throws -> RESPValue {
        let reply = try await send(command)
        if let message = reply.errorMessage { throw RedisClientError.serverError(message) }
        return reply
    }

    /// Switches to pub/sub: messages go to `onMessage` (on the event loop) from now on.
    func enterSubscriptionMode(_ onMessage: @escaping @Sendable (RESPValue) -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            eventLoop.execute {
                self.handler.value.enterSubscriptionMode(onMessage)
                done.resume()
            }
        }
    }

    /// Closes the connection, failing whatever is in flight.
    func close() async {
        channel.close(mode: .all, promise: nil)
        try? await channel.closeFuture.get()
    }

    /// Starts closing the connection and returns at once: for callers on an event loop, or
    /// holding nothing that must wait for the close.
    func closeSoon() {
        channel.close(mode: .all, promise: nil)
    }
}

/// Opens connections for a pool or a subscriber: to one fixed server (``RedisConnector``), or
/// to whichever server the sentinels name as the primary right now (``SentinelMonitor``).
protocol RedisConnecting: Sendable {
    /// What the connections go to, for logs: a URL without its password, or the master's name.
    var label: String { get }
    /// A connected, logged-in connection, or a ``RedisClientError``.
    func connect(on eventLoop: any EventLoop) async throws -> RedisConnection
}

/// Opens ``RedisConnection``s: TCP (or TLS), then login and database selection, to the server
/// of the URL or to an endpoint given per connection (with Sentinel, the URL's login and
/// database apply to whichever server is the primary). Holds the TLS context, built once,
/// because building one loads the trust roots.
struct RedisConnector: RedisConnecting {
    let configuration: RedisClientConfiguration
    private let sslContext: NIOSSLContext?

    init(configuration: RedisClientConfiguration) throws {
        self.configuration = configuration
        self.sslContext = configuration.url.usesTLS ? try NIOSSLContext(configuration: configuration.tls) : nil
    }

    /// A connector sharing a TLS context already built (the sentinels and the data servers of
    /// one store trust the same roots).
    init(configuration: RedisClientConfiguration, sslContext: NIOSSLContext?) {
        self.configuration = configuration
        self.sslContext = configuration.url.usesTLS ? sslContext : nil
    }

    var label: String { configuration.url.description }

    /// Connects to the URL's server and logs in (or, with no login to do, PINGs), or throws a
    /// ``RedisClientError``. Takes at most the connect timeout for TCP plus the command timeout
    /// for TLS and login.
    func connect(on eventLoop: any EventLoop) async throws -> RedisConnection {
        try await connect(on: eventLoop, to: configuration.url.endpoint)
    }

    /// Connects to `endpoint` with the URL's login, database and TLS.
    ///
    /// - Parameters:
    ///   - checkingRole: sends `ROLE` with the login, in the same round trip, and throws
    ///     ``RedisClientError/notPrimary(_:)`` unless the server says `master`.
    ///   - errorObserver: shown every error reply the connection receives (see
    ///     ``RedisCommandHandler``).
    func connect(
        on eventLoop: any EventLoop, to endpoint: RedisEndpoint, checkingRole: Bool = false,
        errorObserver: (@Sendable (ByteBuffer) -> Void)? = nil
    ) async throws -> RedisConnection {
        let host = endpoint.host
        let commandTimeout = TimeAmount(configuration.commandTimeout)
        let limits = configuration.limits
        let sslContext = self.sslContext
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)

        // The handler is handed out by the initializer itself: looked up in the pipeline later,
        // it could already be gone (a TLS failure closes the channel at once).
        let channel: any Channel
        let handler: NIOLoopBound<RedisCommandHandler>
        do {
            (channel, handler) = try await bootstrap.connect(host: host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: isAddress ? nil : host))
                    }
                    let handler = RedisCommandHandler(commandTimeout: commandTimeout, errorObserver: errorObserver)
                    try pipeline.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                    try pipeline.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch ChannelError.connectTimeout {
            throw RedisClientError.connectTimeout
        } catch {
            throw RedisClientError.connectFailed(Self.describe(error))
        }
        let connection = RedisConnection(channel: channel, handler: handler)
        do {
            try await logIn(connection, checkingRole: checkingRole)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// `AUTH`/`HELLO`, `SELECT` and `ROLE`, written together and answered in one round trip.
    private func logIn(_ connection: RedisConnection, checkingRole: Bool) async throws {
        let url = configuration.url
        var commands: [(ByteBuffer, RedisClientError.Kind)] = []
        switch configuration.protocolVersion {
        case .resp2:
            if let password = url.password {
                var auth = RESPCommandBuilder(argumentCount: url.user == nil ? 2 : 3)
                auth.append("AUTH")
                if let user = url.user { auth.append(user) }
                auth.append(password)
                commands.append((auth.buffer, .authentication))
            }
        case .resp3:
            var hello = RESPCommandBuilder(argumentCount: url.password == nil ? 2 : 5)
            hello.append("HELLO")
            hello.append("3")
            if let password = url.password {
                hello.append("AUTH")
                hello.append(url.user ?? "default")
                hello.append(password)
            }
            commands.append((hello.buffer, .hello))
        }
        if url.database != 0 {
            var select = RESPCommandBuilder(argumentCount: 2)
            select.append("SELECT")
            select.append(url.database)
            commands.append((select.buffer, .select))
        }
        if checkingRole {
            var role = RESPCommandBuilder(argumentCount: 1)
            role.append("ROLE")
            commands.append((role.buffer, .role))
        }
        if commands.isEmpty {
            // Nothing to log in with: a PING, so "connected" always means Redis answered.
            var ping = RESPCommandBuilder(argumentCount: 1)
            ping.append("PING")
            commands.append((ping.buffer, .ping))
        }
        // Written back to back, read in order; the first refusal is the one reported (a
        // refused AUTH makes SELECT fail with NOAUTH, which would only confuse).
        let replies = try await connection.send(all: commands.map(\.0))
        for (reply, (_, kind)) in zip(replies, commands) {
            if let message = reply.errorMessage { throw kind.error(message) }
            if kind == .role {
                let role = SentinelReplies.role(reply) ?? "unreadable"
                if role != "master" { throw RedisClientError.notPrimary(role) }
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            // Happy eyeballs: one error per address tried; the first says enough.
            if let first = error.connectionErrors.first { return describe(first.error) }
            if let dnsError = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve the host: \(dnsError)" }
            return "no address to connect to"
        }
        if let error = error as? IOError {
            // The system's words ("Connection refused"), not NIO's wrapping of them.
            return String(cString: strerror(error.errnoCode))
        }
        return "\(error)"
    }
}

extension RedisClientError {
    /// Which login step a refusal belongs to.
    enum Kind {
        case authentication, hello, select, ping, role

        func error(_ message: String) -> RedisClientError {
            switch self {
            case .authentication:
                return .authenticationFailed(message)
            case .hello:
                let authenticationCodes = ["WRONGPASS", "NOAUTH", "NOPERM"]
                return authenticationCodes.contains(where: message.hasPrefix)
                    ? .authenticationFailed(message) : .connectFailed("HELLO 3 refused: \(message)")
            case .select:
                return .selectFailed(message)
            case .ping:
                return message.hasPrefix("NOAUTH") ? .authenticationFailed(message) : .connectFailed("PING refused: \(message)")
            case .role:
                // An ACL user without +role (it is in @admin) cannot prove it reached the primary;
                // NOAUTH: a server with a password the configuration does not give (found by an
                // audit: behind Sentinel that read as no primary, "failover under way?").
                return message.hasPrefix("NOPERM") || message.hasPrefix("NOAUTH")
                    ? .authenticationFailed("ROLE refused: \(message)") : .connectFailed("ROLE refused: \(message)")
            }
        }
    }
}
