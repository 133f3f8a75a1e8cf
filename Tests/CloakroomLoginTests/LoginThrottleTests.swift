import CloakroomLogin
import CloakroomSessions
import Testing

@Suite struct LoginThrottleTests {
    let clock = ManualWallClock()

    func throttle(maxFailures: Int = 3, window: Duration = .seconds(900), maxDelay: Duration = .seconds(8),
                  maxTrackedKeys: Int = 100_000) -> LoginThrottle {
        LoginThrottle(settings: .init(maxFailures: maxFailures, window: window, maxDelay: maxDelay), clock: clock,
                      maxTrackedKeys: maxTrackedKeys)
    }

    @Test func defaultsAreTheDocumentedOnes() {
        let settings = LoginThrottle.Settings()
        #expect(settings.maxFailures == 5 && settings.window == .seconds(900) && settings.maxDelay == .seconds(900))
    }

    @Test func attemptsUnderTheLimitPass() {
        let throttle = throttle()
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == nil)
        throttle.recordFailure(username: "alice", client: "10.0.0.1")
        throttle.recordFailure(username: "alice", client: "10.0.0.1")
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == nil)
        throttle.recordFailure(username: "alice", client: "10.0.0.1")
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(1))
    }

    @Test func delaysDoubleUpToTheMaximum() {
        let throttle = throttle()
        var delays: [Duration?] = []
        for _ in 0..<8 {
            throttle.recordFailure(username: "alice", client: "10.0.0.1")
            delays.append(throttle.retryAfter(username: "alice", client: "10.0.0.1"))
        }
        #expect(delays == [nil, nil, .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)])
    }

    @Test func retryAfterCountsDownFromTheLatestFailure() {
        let throttle = throttle()
        for _ in 0..<4 { throttle.recordFailure(username: "alice", client: "10.0.0.1") }
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(2))
        clock.advance(by: .milliseconds(1500))
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .milliseconds(500))
        clock.advance(by: .milliseconds(500))
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == nil)
    }

    @Test func usernameCountFollowsTheUserAcrossClients() {
        let throttle = throttle()
        for i in 0..<3 { throttle.recordFailure(username: "alice", client: "10.0.0.\(i)") }
        #expect(throttle.retryAfter(username: "alice", client: "10.9.9.9") == .seconds(1))
        #expect(throttle.retryAfter(username: "bob", client: "10.9.9.9") == nil)
    }

    @Test func clientCountSpansUsernames() {
        let throttle = throttle()
        for name in ["alice", "bob", "carol"] { throttle.recordFailure(username: name, client: "10.0.0.1") }
        #expect(throttle.retryAfter(username: "dave", client: "10.0.0.1") == .seconds(1))
        #expect(throttle.retryAfter(username: "dave", client: "10.0.0.2") == nil)
    }

    @Test func successClearsTheUsernameButNotTheClient() {
        let throttle = throttle()
        for _ in 0..<3 { throttle.recordFailure(username: "alice", client: "10.0.0.1") }
        throttle.recordSuccess(username: "alice", client: "10.0.0.1")
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.2") == nil)
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(1))
    }

    @Test func failuresAreForgottenAfterTheWindow() {
        let throttle = throttle(window: .seconds(60))
        for _ in 0..<5 { throttle.recordFailure(username: "alice", client: "10.0.0.1") }
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(4))
        clock.advance(by: .seconds(59))
        throttle.recordFailure(username: "alice", client: "10.0.0.1")  // keeps the count alive
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(8))
        clock.advance(by: .seconds(60))
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == nil)
        throttle.recordFailure(username: "alice", client: "10.0.0.1")
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == nil, "counting started over")
    }

    @Test func tracksAtMostTheCappedNumberOfKeys() {
        let throttle = throttle(maxTrackedKeys: 100)
        for _ in 0..<3 { throttle.recordFailure(username: "alice", client: "10.0.0.1") }
        for i in 0..<1_000 {
            clock.advance(by: .milliseconds(1))
            throttle.recordFailure(username: "user\(i)", client: "10.1.\(i / 256).\(i % 256)")
            #expect(throttle.trackedKeyCount <= 100)
        }
        #expect(throttle.trackedKeyCount >= 90)
        // The oldest keys went first; the newest are still counted.
        #expect(throttle.retryAfter(username: "alice", client: "10.9.9.9") == nil)
        throttle.recordFailure(username: "user999", client: "10.2.0.0")
        throttle.recordFailure(username: "user999", client: "10.2.0.0")
        #expect(throttle.retryAfter(username: "user999", client: "10.2.0.1") == .seconds(1))
    }

    @Test func isSafeToShareBetweenTasks() async {
        let throttle = throttle(maxFailures: 1_000)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<1_000 {
                group.addTask { throttle.recordFailure(username: "alice", client: "10.0.\(i % 4).1") }
            }
        }
        #expect(throttle.retryAfter(username: "alice", client: "10.9.9.9") == .seconds(1))
        #expect(throttle.trackedKeyCount == 5)
    }

    /// Found by a black-box audit: 20 guesses sent at once were all checked (the right one got
    /// a session), since each asked before any had failed. An admission counts at once.
    @Test func admissionCountsTheAttemptAtOnce() {
        let throttle = throttle()
        for _ in 0..<3 { #expect(throttle.admit(username: "alice", client: "10.0.0.1") == nil) }
        #expect(throttle.admit(username: "alice", client: "10.0.0.1") == .seconds(1), "the fourth waits, none having failed yet")
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(1))
    }

    /// Checking a password can take long on a loaded machine: the delay starts when the last
    /// failure is known, not when its attempt was let through, and waits while it is checked.
    @Test func theDelayRunsFromTheRecordedFailure() {
        let throttle = throttle()
        for _ in 0..<3 { #expect(throttle.admit(username: "alice", client: "10.0.0.1") == nil) }
        clock.advance(by: .seconds(5))
        #expect(throttle.admit(username: "alice", client: "10.0.0.1") == .seconds(1), "still being checked")
        for _ in 0..<3 { throttle.recordAdmittedFailure(username: "alice", client: "10.0.0.1") }
        #expect(throttle.retryAfter(username: "alice", client: "10.0.0.1") == .seconds(1), "from the failure")
        clock.advance(by: .seconds(1))
        #expect(throttle.admit(username: "alice", client: "10.0.0.1") == nil)
    }

    @Test func concurrentAdmissionsNeverExceedTheLimit() async {
        let throttle = throttle(maxFailures: 5)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 { group.addTask { throttle.admit(username: "alice", client: "10.0.0.1") == nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
    }

    /// A right password takes back what its admission counted against the client, so users
    /// behind one address (an office's NAT) signing in do not throttle each other.
    @Test func anAdmittedSuccessTakesBackTheClientsCount() {
        let throttle = throttle()
        for name in ["alice", "bob", "carol", "dave", "erin"] {
            #expect(throttle.admit(username: name, client: "10.0.0.1") == nil, "\(name)")
            throttle.recordAdmittedSuccess(username: name, client: "10.0.0.1")
        }
        #expect(throttle.trackedKeyCount == 0)
        // A failure before a success stays counted against the client, not the username.
        #expect(throttle.admit(username: "frank", client: "10.0.0.2") == nil)
        #expect(throttle.admit(username: "frank", client: "10.0.0.2") == nil)
        throttle.recordAdmittedSuccess(username: "frank", client: "10.0.0.2")
        #expect(throttle.admit(username: "gina", client: "10.0.0.2") == nil)
        #expect(throttle.admit(username: "hank", client: "10.0.0.2") == nil)
        #expect(throttle.admit(username: "ivy", client: "10.0.0.2") == .seconds(1), "1 + 2 failures from this address")
    }
}
