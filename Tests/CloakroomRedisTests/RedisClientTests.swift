@testable import CloakroomRedis
import CloakroomStoreConformance
import NIOCore
import NIOPosix
import Testing

extension RedisServerTests {
    /// The client against a real redis-server: pipelining, login, database selection, RESP3.
    @Suite struct RedisClientTests {
        func connector(_ url: String, protocolVersion: RedisClientConfiguration.ProtocolVersion = .resp2) throws -> RedisConnector {
            try RedisConnector(configuration: RedisClientConfiguration(
                url: try RedisURL(parsing: url), commandTimeout: .seconds(2), protocolVersion: protocolVersion
            ))
        }

        func command(_ arguments: String...) -> ByteBuffer {
            var command = RESPCommandBuilder(argumentCount: arguments.count)
            for argument in arguments { command.append(argument) }
            return command.buffer
        }

        /// Many callers share a few connections; every reply reaches the caller that sent its command.
        @Test func concurrentCallersArePipelinedAndMatched() async throws {
            try await RedisServerProcess.with { redis in
                let pool = RedisConnectionPool(connector: try connector(redis.url), size: 2, group: MultiThreadedEventLoopGroup.singleton, logger: testLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for task in 0..<50 {
                        group.addTask {
                            for i in 0..<40 {
                                let value = "task\(task)-\(i)"
                                let reply = try await pool.connection().send(self.command("ECHO", value))
                                #expect(reply == bulk(value))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let clients = try await redis.cli(["CLIENT", "LIST"]).split(separator: "\n").filter { !$0.contains("cmd=client") }
                #expect(clients.count == 2, "two pooled connections carried 2000 commands")
                await pool.close()
                await #expect(throws: RedisClientError.shutDown) { try await pool.connection() }
            }
        }

        @Test func batchRepliesComeBackInOrder() async throws {
            try await RedisServerProcess.with { redis in
                let connection = try await connector(redis.url).connect(on: MultiThreadedEventLoopGroup.singleton.next())
                let replies = try await connection.send(all: [command("SET", "k", "v"), command("GET", "k"), command("GET", "missing"), command("NOSUCH")])
                #expect(replies[0] == simple("OK"))
                #expect(replies[1] == bulk("v"))
                #expect(replies[2] == .null)
                #expect(replies[3].errorMessage?.hasPrefix("ERR unknown command") == true)
                await connection.close()
            }
        }

        @Test(arguments: [RedisClientConfiguration.ProtocolVersion.resp2, .resp3])
        func logsInAsAnACLUserAndRejectsAWrongPassword(_ version: RedisClientConfiguration.ProtocolVersion) async throws {
            let acl = ["--user", "default", "off", "--user", "cloakroom", "on", ">s3cret", "~*", "&*", "+@all"]
            try await RedisServerProcess.with(arguments: acl) { redis in
                let port = redis.port
                let connection = try await connector("redis://cloakroom:s3cret@127.0.0.1:\(port)/0", protocolVersion: version)
                    .connect(on: MultiThreadedEventLoopGroup.singleton.next())
                #expect(try await connection.send(command("ACL", "WHOAMI")) == bulk("cloakroom"))
                await connection.close()

                for url in ["redis://cloakroom:wrong@127.0.0.1:\(port)/0", "redis://nobody:s3cret@127.0.0.1:\(port)/0"] {
                    await #expect(throws: RedisClientError.authenticationFailed("WRONGPASS invalid username-password pair or user is disabled.")) {
                        _ = try await connector(url, protocolVersion: version).connect(on: MultiThreadedEventLoopGroup.singleton.next())
                    }
                }
                if version == .resp2 {
                    // No credentials at all: the default user is off, so the connection's PING is refused.
                    await #expect(throws: RedisClientError.authenticationFailed("NOAUTH Authentication required.")) {
                        _ = try await connector("redis://127.0.0.1:\(port)/0").connect(on: MultiThreadedEventLoopGroup.singleton.next())
                    }
                }
            }
        }

        @Test func selectsTheDatabaseFromTheURL() async throws {
            try await RedisServerProcess.with { redis in
                let connection = try await connector("redis://127.0.0.1:\(redis.port)/5").connect(on: MultiThreadedEventLoopGroup.singleton.next())
                _ = try await connection.send(command("SET", "where", "five"))
                await connection.close()
                #expect(try await redis.cli(["GET", "where"], options: ["-n", "5"]) == "five")
                #expect(try await redis.cli(["EXISTS", "where"]) == "0")

                await #expect(throws: RedisClientError.selectFailed("ERR DB index is out of range")) {
                    _ = try await connector("redis://127.0.0.1:\(redis.port)/99").connect(on: MultiThreadedEventLoopGroup.singleton.next())
                }
            }
        }

        @Test func refusedConnectionIsAClearError() async throws {
            // A port no server listens on: a server started and stopped again.
            let port = try await RedisServerProcess.with { $0.port }
            do {
                _ = try await connector("redis://127.0.0.1:\(port)").connect(on: MultiThreadedEventLoopGroup.singleton.next())
                Issue.record("connected to nothing")
            } catch let RedisClientError.connectFailed(why) {
                #expect(why.lowercased().contains("refused"), "\(why)")
            }
        }
    }
}
