@testable import CloakroomRedis
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The reply-matching handler on an `EmbeddedChannel`: order, pipelining, and failing
/// everything in flight when the connection cannot be trusted any more.
@Suite struct RedisCommandHandlerTests {
    /// A channel with the decoder and the handler, and the handler itself.
    func makeChannel(timeout: TimeAmount = .seconds(1), limits: RESPLimits = .default) throws -> (EmbeddedChannel, RedisCommandHandler) {
        let handler = RedisCommandHandler(commandTimeout: timeout)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return (channel, handler)
    }

    func send(_ text: String, on channel: EmbeddedChannel, _ handler: RedisCommandHandler) -> Outcome {
        let outcome = Outcome()
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        promise.futureResult.whenComplete { outcome.set($0) }
        var command = RESPCommandBuilder(argumentCount: 1)
        command.append(text)
        handler.enqueue(command.buffer, reply: .promise(promise))
        return outcome
    }

    @Test func pipelinedRepliesGoToTheirCommandsInOrder() throws {
        let (channel, handler) = try makeChannel()
        let first = send("PING", on: channel, handler)
        let second = send("GET", on: channel, handler)
        let third = send("INCR", on: channel, handler)
        channel.embeddedEventLoop.run()  // the scheduled flush
        var written = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&chunk) }
        #expect(String(buffer: written) == "*1\r\n$4\r\nPING\r\n*1\r\n$3\r\nGET\r\n*1\r\n$4\r\nINCR\r\n")
        #expect(handler.inFlight == 3)

        // The captured pipelined reply, split awkwardly.
        let bytes = CapturedReplies.resp2Pipelined
        try channel.writeInbound(ByteBuffer(bytes: bytes[0..<5]))
        #expect(first.value == nil)
        try channel.writeInbound(ByteBuffer(bytes: bytes[5...]))
        #expect(first.value == simple("PONG"))
        #expect(second.value == .null)
        #expect(third.value == .integer(-41))
        #expect(handler.inFlight == 0)
        #expect(channel.isActive)
    }

    @Test func decodingErrorFailsEverythingInFlightAndCloses() throws {
        let (channel, handler) = try makeChannel()
        let first = send("PING", on: channel, handler)
        let second = send("PING", on: channel, handler)
        // The handler takes the decoding error: nothing reaches the end of the pipeline.
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n?garbage\r\n"))
        #expect(first.value == simple("PONG"), "the reply before the garbage is still delivered")
        #expect(second.error == .protocolError(RESPDecodingError.unknownType(UInt8(ascii: "?")).description))
        #expect(!channel.isActive)
        let late = send("PING", on: channel, handler)
        #expect(late.error != nil, "a closed connection takes no more commands")
    }

    @Test func oversizedReplyFailsLikeMalformedOne() throws {
        let limits = RESPLimits(maxBulkLength: 4, maxDepth: 2, maxAggregateCount: 4, maxLineLength: 64, maxReplyBytes: 1024)
        let (channel, handler) = try makeChannel(limits: limits)
        let pending = send("GET", on: channel, handler)
        _ = try? channel.writeInbound(ByteBuffer(string: "$5\r\nhello\r\n"))
        #expect(pending.error == .protocolError(RESPDecodingError.bulkTooLong(5).description))
        #expect(!channel.isActive)
    }

    @Test func replyWithNoCommandClosesTheConnection() throws {
        let (channel, handler) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        #expect(!channel.isActive)
        #expect(send("PING", on: channel, handler).error == .protocolError("a reply arrived with no command waiting for it"))
    }

    @Test func unsolicitedPushIsIgnored() throws {
        let (channel, handler) = try makeChannel()
        let pending = send("PING", on: channel, handler)
        try channel.writeInbound(ByteBuffer(bytes: CapturedReplies.resp3DebugPush))
        // The push is dropped, the bulk string after it answers the command.
        #expect(pending.value == bulk("Some real reply following the push reply"))
        #expect(channel.isActive)
    }

    @Test func commandTimeoutFailsEverythingAndCloses() throws {
        let (channel, handler) = try makeChannel(timeout: .milliseconds(100))
        let first = send("PING", on: channel, handler)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))
        let second = send("PING", on: channel, handler)
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(first.value == simple("PONG"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))
        #expect(second.value == nil && second.error == nil, "the second command has 40 ms left")
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        #expect(second.error == .commandTimeout)
        #expect(!channel.isActive)
    }

    @Test func closingFailsWhatIsInFlight() throws {
        let (channel, handler) = try makeChannel()
        let pending = send("PING", on: channel, handler)
        try channel.close().wait()
        #expect(pending.error == .connectionClosed)
    }

    @Test func subscriptionModeRoutesMessagesAndStillAnswersCommands() throws {
        let (channel, handler) = try makeChannel()
        let messages = Locked<[RESPValue]>([])
        handler.enterSubscriptionMode { value in messages.withLock { $0.append(value) } }
        let subscribe = send("SUBSCRIBE", on: channel, handler)
        try channel.writeInbound(ByteBuffer(bytes: CapturedReplies.resp3Subscribe))
        #expect(subscribe.value?.elements?.first == bulk("subscribe"))
        try channel.writeInbound(ByteBuffer(bytes: CapturedReplies.resp3Message + CapturedReplies.resp2Message))
        let ping = send("PING", on: channel, handler)
        try channel.writeInbound(ByteBuffer(string: "*2\r\n$4\r\npong\r\n$0\r\n\r\n"))
        #expect(ping.value?.elements?.first == bulk("pong"))
        #expect(messages.withLock { $0.count } == 2)
        #expect(messages.withLock { $0.map { $0.elements?[2] } } == [bulk("u:alice"), bulk("u:alice")])
    }
}

/// What became of one command.
final class Outcome: Sendable {
    private let result = Mutex<Result<RESPValue, any Error>?>(nil)

    func set(_ value: Result<RESPValue, any Error>) { result.withLock { $0 = value } }

    var value: RESPValue? {
        result.withLock { if case .success(let value)? = $0 { return value } else { return nil } }
    }

    var error: RedisClientError? {
        result.withLock { if case .failure(let error)? = $0 { return error as? RedisClientError } else { return nil } }
    }
}
