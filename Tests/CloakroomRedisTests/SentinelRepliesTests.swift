@testable import CloakroomRedis
import NIOCore
import Testing

/// What sentinels and servers say about the topology, in every shape they say it.
@Suite struct SentinelRepliesTests {
    @Test func masterAddress() {
        #expect(SentinelReplies.masterAddress(.array([bulk("10.0.0.2"), bulk("6380")])) == .address(RedisEndpoint(host: "10.0.0.2", port: 6380)))
        #expect(SentinelReplies.masterAddress(.array([bulk("::1"), .integer(6379)])) == .address(RedisEndpoint(host: "::1", port: 6379)))
        #expect(SentinelReplies.masterAddress(.null) == .unknownMaster, "no master of that name")
        #expect(SentinelReplies.masterAddress(errorReply("NOAUTH Authentication required.")) == .unreadable)
        #expect(SentinelReplies.masterAddress(.array([bulk("10.0.0.2")])) == .unreadable)
        #expect(SentinelReplies.masterAddress(.array([bulk("10.0.0.2"), bulk("0")])) == .unreadable)
        #expect(SentinelReplies.masterAddress(.array([bulk(""), bulk("6379")])) == .unreadable)
    }

    @Test func role() {
        let master: RESPValue = .array([bulk("master"), .integer(3129659), .array([.array([bulk("127.0.0.1"), bulk("9001"), bulk("3129242")])])])
        #expect(SentinelReplies.role(master) == "master")
        #expect(SentinelReplies.role(.array([bulk("slave"), bulk("127.0.0.1"), .integer(9000), bulk("connected"), .integer(3167038)])) == "slave")
        #expect(SentinelReplies.role(.array([bulk("sentinel"), .array([bulk("mymaster")])])) == "sentinel")
        #expect(SentinelReplies.role(errorReply("NOPERM this user has no permissions to run the 'role' command")) == nil)
    }

    @Test func switchMaster() {
        let payload = ByteBuffer(string: "mymaster 127.0.0.1 17001 127.0.0.1 17002")
        #expect(SentinelReplies.switchedPrimary(payload, master: "mymaster") == RedisEndpoint(host: "127.0.0.1", port: 17002))
        #expect(SentinelReplies.switchedPrimary(payload, master: "other") == nil, "about another master")
        #expect(SentinelReplies.switchedPrimary(ByteBuffer(string: "mymaster 127.0.0.1 17001"), master: "mymaster") == nil)
        #expect(SentinelReplies.switchedPrimary(ByteBuffer(string: "mymaster a 1 b port"), master: "mymaster") == nil)
    }

    @Test func failoverEventsAreAboutTheirMaster() {
        #expect(SentinelReplies.isAboutMaster(ByteBuffer(string: "master mymaster 127.0.0.1 17001"), master: "mymaster"))
        #expect(!SentinelReplies.isAboutMaster(ByteBuffer(string: "master other 127.0.0.1 17001"), master: "mymaster"))
        #expect(!SentinelReplies.isAboutMaster(ByteBuffer(string: "slave 127.0.0.1:17002 127.0.0.1 17002 @ mymaster 127.0.0.1 17001"), master: "mymaster"))
        #expect(!SentinelReplies.isAboutMaster(ByteBuffer(string: ""), master: "mymaster"))
    }

    /// ``FailoverGate``: no write acknowledged from a failover's announcement to its switch, nor
    /// one sent before either; another sentinel's aborted attempt does not end a failover.
    @Test func theFailoverGate() {
        let gate = FailoverGate()
        let start = ContinuousClock.now
        let before = gate.ticket()
        #expect(gate.allows(before, now: start))
        gate.started(by: 0, now: start)
        #expect(!gate.allows(before, now: start), "sent before the announcement")
        let during = gate.ticket()
        #expect(!gate.allows(during, now: start + .seconds(1)), "under way")
        gate.started(by: 1, now: start)
        gate.aborted(by: 1)
        #expect(!gate.allows(gate.ticket(), now: start + .seconds(1)), "sentinel 0's attempt still runs")
        #expect(gate.allows(gate.ticket(), now: start + FailoverGate.longest), "a failover never heard of again stops holding writes")
        gate.switched(primaryChanged: true)
        #expect(!gate.allows(during, now: start + .seconds(2)), "sent before the switch")
        let after = gate.ticket()
        #expect(gate.allows(after, now: start + .seconds(2)))
        gate.switched(primaryChanged: false)
        #expect(gate.allows(after, now: start + .seconds(3)), "a late announcement of the same switch")
    }

    @Test func serverProblems() {
        #expect(SentinelReplies.serverProblem(ByteBuffer(string: "READONLY You can't write against a read only replica.")) == .readOnly)
        // What a script that writes on a replica answers (Redis 7.0).
        #expect(SentinelReplies.serverProblem(ByteBuffer(string:
            "READONLY You can't write against a read only replica. script: ff96..., on @user_script:1.")) == .readOnly)
        #expect(SentinelReplies.serverProblem(ByteBuffer(string: "LOADING Redis is loading the dataset in memory")) == .loading)
        #expect(SentinelReplies.serverProblem(ByteBuffer(string: "MASTERDOWN Link with MASTER is down")) == .masterDown)
        #expect(SentinelReplies.serverProblem(ByteBuffer(string: "NOSCRIPT No matching script.")) == nil)
        #expect(SentinelReplies.serverProblem(ByteBuffer(string: "ERR READONLY in the middle")) == nil)
    }

    @Test func waitTimeoutStaysInsideTheCommandTimeout() {
        #expect(WriteAcknowledgement.waitMilliseconds(commandTimeout: .seconds(1)) == 750)
        #expect(WriteAcknowledgement.waitMilliseconds(commandTimeout: .seconds(4)) == 3750)
        #expect(WriteAcknowledgement.waitMilliseconds(commandTimeout: .milliseconds(200)) == 150)
        #expect(WriteAcknowledgement.waitMilliseconds(commandTimeout: .milliseconds(1)) == 1)
    }
}
