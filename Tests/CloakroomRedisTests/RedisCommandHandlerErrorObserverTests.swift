@testable import CloakroomRedis
import NIOCore
import NIOEmbedded
import Testing

/// Error replies shown to an observer (how Sentinel mode hears `-READONLY` from any command),
/// only after the command they answer has its reply.
@Suite struct RedisCommandHandlerErrorObserverTests {
    @Test func errorRepliesReachTheObserverAfterTheirCommand() throws {
        let seen = Locked<[String]>([])
        let outcomes = Locked<[Outcome]>([])
        let handler = RedisCommandHandler(commandTimeout: .seconds(1), errorObserver: { message in
            // By now the command that got this reply has it.
            seen.withLock { $0.append("\(String(buffer: message)) after \(outcomes.value.compactMap(\.value).count) replies") }
        })
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: .default)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        for _ in 0..<3 {
            let outcome = Outcome()
            let promise = channel.eventLoop.makePromise(of: RESPValue.self)
            promise.futureResult.whenComplete { outcome.set($0) }
            var command = RESPCommandBuilder(argumentCount: 1)
            command.append("EVALSHA")
            handler.enqueue(command.buffer, reply: .promise(promise))
            outcomes.withLock { $0.append(outcome) }
        }
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n-READONLY You can't write against a read only replica.\r\n-LOADING Redis is loading\r\n"))
        #expect(seen.value == [
            "READONLY You can't write against a read only replica. after 2 replies", "LOADING Redis is loading after 3 replies",
        ])
        #expect(outcomes.value.map(\.value) == [simple("OK"), errorReply("READONLY You can't write against a read only replica."),
                                               errorReply("LOADING Redis is loading")])
        #expect(channel.isActive, "an error reply is an answer like any other")
    }
}
