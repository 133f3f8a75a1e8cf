import CloakroomProxy
import NIOCore
import Testing

@testable import CloakroomServer

/// The exchange's decisions without sockets: the order of its steps, the close rule, the retry
/// rule, and that every exchange ends in exactly one recorded ``ExchangeStateMachine/Finish``.
@Suite struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine

    static func get(keepAlive: Bool = true) -> Machine {
        Machine(facts: ExchangeFacts(keepAlive: keepAlive, idempotent: true, framing: .none, maxBodyBytes: 100))
    }

    static func post(_ framing: UpstreamFraming = .length(10), expectContinue: Bool = false) -> Machine {
        Machine(facts: ExchangeFacts(keepAlive: true, idempotent: false, framing: framing, expectContinue: expectContinue, maxBodyBytes: 100))
    }

    static let part = ByteBuffer(string: "12345")

    // MARK: The ordinary path

    @Test func aGetGoesUpstreamAndBack() {
        var machine = Self.get()
        #expect(machine.requestEnd().isNone)
        guard case .acquireConnection(fresh: false, sendContinue: false) = machine.forward() else { Issue.record("acquire"); return }
        guard case .sendRequest(let body, end: true) = machine.connectionAcquired(reused: true), body.isEmpty else {
            Issue.record("send"); return
        }
        guard case .writeResponseHead(closeClient: false) = machine.responseHead(code: 200, hasEffects: false) else {
            Issue.record("head"); return
        }
        guard case .writeResponseBody = machine.responseBody(Self.part) else { Issue.record("body"); return }
        guard case .finish(let finish) = machine.responseEnd() else { Issue.record("finish"); return }
        #expect(finish == .init(outcome: .complete, releaseUpstream: true, closeClient: false, requestUnfinished: false))
        #expect(machine.status == 200 && machine.bytesOut == 5)
        #expect(machine.isFinished)
    }

    @Test func bodyPartsWaitForTheConnectionThenStream() {
        var machine = Self.post()
        #expect(machine.requestBody(Self.part).isNone)
        _ = machine.forward()
        #expect(machine.requestBody(Self.part).isNone, "still connecting: held")
        guard case .sendRequest(let body, end: false) = machine.connectionAcquired(reused: false) else { Issue.record("send"); return }
        #expect(body.count == 2)
        guard case .sendRequestBody = machine.requestBody(Self.part) else { Issue.record("streamed"); return }
        guard case .sendRequestEnd = machine.requestEnd() else { Issue.record("end"); return }
    }

    @Test func aConnectionThatArrivesAfterTheEndIsGivenBack() {
        var machine = Self.get()
        _ = machine.forward()
        _ = machine.clientGone()
        guard case .releaseConnection = machine.connectionAcquired(reused: false) else { Issue.record("release"); return }
    }

    @Test func expectContinueIsAnsweredOnlyWhileTheBodyIsAwaited() {
        var machine = Self.post(expectContinue: true)
        guard case .acquireConnection(fresh: false, sendContinue: true) = machine.forward() else { Issue.record("continue"); return }
        var ended = Self.post(expectContinue: true)
        _ = ended.requestEnd()
        guard case .acquireConnection(fresh: false, sendContinue: false) = ended.forward() else { Issue.record("no continue"); return }
    }

    // MARK: The close rule

    @Test func theCloseRule() {
        var http10 = Self.get(keepAlive: false)
        _ = http10.requestEnd()
        _ = http10.forward()
        _ = http10.connectionAcquired(reused: false)
        guard case .writeResponseHead(closeClient: true) = http10.responseHead(code: 200, hasEffects: false) else {
            Issue.record("no keep-alive closes"); return
        }
        // The backend answered before the body ended: the rest cannot be told from the next request.
        var early = Self.post()
        _ = early.forward()
        _ = early.connectionAcquired(reused: false)
        guard case .writeResponseHead(closeClient: true) = early.responseHead(code: 413, hasEffects: false) else {
            Issue.record("early answer closes"); return
        }
        guard case .finish(let finish) = early.responseEnd() else { Issue.record("finish"); return }
        #expect(!finish.releaseUpstream && finish.closeClient && finish.requestUnfinished)
        // Shutdown.
        var quiesced = Self.get()
        _ = quiesced.requestEnd()
        quiesced.closeAfterResponse()
        #expect(quiesced.answer(status: 404, bodyBytes: 3, close: false).closeClient)
        // An upgrade request is the connection's last.
        var upgrade = Machine(facts: ExchangeFacts(keepAlive: true, upgrade: true))
        _ = upgrade.requestEnd()
        #expect(upgrade.answer(status: 401, bodyBytes: 3, close: false).closeClient)
        // A keep-alive exchange that ended whole keeps the connection.
        var kept = Self.get()
        _ = kept.requestEnd()
        #expect(!kept.answer(status: 401, bodyBytes: 3, close: false).closeClient)
    }

    // MARK: The retry rule

    @Test func aStaleReusedConnectionIsRetriedOnceForIdempotentRequests() {
        var machine = Self.get()
        _ = machine.requestEnd()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: true)
        guard case .acquireConnection(fresh: true, sendContinue: false) = machine.upstreamFailed(stale: true) else {
            Issue.record("retried"); return
        }
        _ = machine.connectionAcquired(reused: true)
        guard case .answer(let error) = machine.upstreamFailed(stale: true) else { Issue.record("once only"); return }
        #expect(error.code == .upstreamUnavailable)
    }

    @Test(arguments: [
        (stale: true, reused: true, idempotent: false, hasBody: false),
        (stale: true, reused: false, idempotent: true, hasBody: false),
        (stale: false, reused: true, idempotent: true, hasBody: false),
        (stale: true, reused: true, idempotent: true, hasBody: true),
    ])
    func neverRetriedOtherwise(_ case_: (stale: Bool, reused: Bool, idempotent: Bool, hasBody: Bool)) {
        var machine = Machine(
            facts: ExchangeFacts(keepAlive: true, idempotent: case_.idempotent, framing: case_.hasBody ? .length(5) : .none))
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: case_.reused)
        guard case .answer(let error) = machine.upstreamFailed(stale: case_.stale) else { Issue.record("no retry"); return }
        #expect(ExchangeOutcome(answering: error.code) == .upstreamFailed)
    }

    // MARK: Session effects hold the head

    @Test func effectsHoldTheHeadAndTheBody() {
        var machine = Self.get()
        _ = machine.requestEnd()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        guard case .applyEffects = machine.responseHead(code: 200, hasEffects: true) else { Issue.record("effects"); return }
        #expect(!machine.readsResponse(downstreamWritable: true), "upstream reads pause while the head is held")
        #expect(machine.responseBody(Self.part).isNone)
        #expect(machine.responseEnd().isNone)
        guard case .writeHeldResponse(closeClient: false, let body, let finish?) = machine.effectsApplied() else {
            Issue.record("held"); return
        }
        #expect(body.count == 1 && finish.outcome == .complete && finish.releaseUpstream)
        #expect(machine.bytesOut == 5)
    }

    @Test func failedEffectsAnswer503() {
        var machine = Self.get()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        _ = machine.responseHead(code: 200, hasEffects: true)
        guard case .answer(let error) = machine.effectsFailed(ProxyError(.storeUnavailable)) else { Issue.record("503"); return }
        #expect(ExchangeOutcome(answering: error.code) == .error)
    }

    // MARK: Endings, each recorded once

    @Test func theResponseTimeoutAppliesUntilTheHead() {
        var machine = Self.get()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        guard case .answer(let error) = machine.responseTimedOut() else { Issue.record("504"); return }
        #expect(error.code == .upstreamTimeout && ExchangeOutcome(answering: error.code) == .timeout)
        var late = Self.get()
        _ = late.forward()
        _ = late.connectionAcquired(reused: false)
        _ = late.responseHead(code: 200, hasEffects: false)
        #expect(late.responseTimedOut().isNone)
    }

    /// An upload the upstream stops taking: a 504 while the body is still being written, and
    /// nothing once it was all sent (the response timeout takes over) or the head came.
    @Test func aStalledRequestBodyIs504UntilItEnds() {
        var machine = Self.post()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        guard case .answer(let error) = machine.requestStalled() else { Issue.record("504"); return }
        #expect(error.code == .upstreamTimeout && ExchangeOutcome(answering: error.code) == .timeout)
        var sent = Self.post()
        _ = sent.forward()
        _ = sent.connectionAcquired(reused: false)
        _ = sent.requestBody(Self.part)
        _ = sent.requestBody(Self.part)  // the ten bytes `post()` declares
        _ = sent.requestEnd()
        #expect(sent.requestStalled().isNone)
        var answered = Self.post()
        _ = answered.forward()
        _ = answered.connectionAcquired(reused: false)
        _ = answered.responseHead(code: 413, hasEffects: false)
        #expect(answered.requestStalled().isNone)
    }

    @Test func anUpstreamThatFailsMidResponseEndsTheClientConnection() {
        var machine = Self.get()
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        _ = machine.responseHead(code: 200, hasEffects: false)
        guard case .abort(let finish) = machine.upstreamFailed(stale: false) else { Issue.record("abort"); return }
        #expect(finish.outcome == .upstreamFailed && finish.closeClient)
        #expect(machine.clientGone() == nil, "recorded once")
    }

    @Test func aClientThatLeavesIsRecordedOnceWith499() {
        var machine = Self.get()
        _ = machine.forward()
        let finish = machine.clientGone()
        #expect(finish?.outcome == .clientClosed && machine.status == 499)
        #expect(machine.clientGone() == nil)
        #expect(machine.responseEnd().isNone && machine.upstreamFailed(stale: false).isNone)
        #expect(machine.fail(ProxyError(.internalError)).isNone)
    }

    @Test func aSessionEndingCutsOnlyAStreamingResponse() {
        var machine = Self.get()
        _ = machine.forward()
        #expect(machine.sessionEnded().isNone)
        _ = machine.connectionAcquired(reused: false)
        _ = machine.responseHead(code: 200, hasEffects: false)
        guard case .abort(let finish) = machine.sessionEnded() else { Issue.record("cut"); return }
        #expect(finish.outcome == .sessionEnded)
    }

    @Test func aBodyOverTheLimitIs413AndClosesOrEndsTheResponse() {
        var machine = Self.post(.chunked)
        _ = machine.forward()
        _ = machine.connectionAcquired(reused: false)
        for _ in 0..<20 { _ = machine.requestBody(Self.part) }  // 100 bytes: at the limit
        guard case .answer(let error) = machine.requestBody(Self.part) else { Issue.record("413"); return }
        #expect(error.code == .bodyTooLarge)
        #expect(machine.answer(status: 413, bodyBytes: 10, close: true, outcome: .error).closeClient)
        var streaming = Self.post(.chunked)
        _ = streaming.forward()
        _ = streaming.connectionAcquired(reused: false)
        _ = streaming.responseHead(code: 200, hasEffects: false)
        for _ in 0..<20 { _ = streaming.requestBody(Self.part) }
        guard case .abort(let finish) = streaming.requestBody(Self.part) else { Issue.record("cut"); return }
        #expect(finish.outcome == .error)
    }

    // MARK: Local answers, upgrades

    @Test func theBuiltinLoginBodyIsCollectedThenSubmitted() {
        var machine = Self.post(.length(10), expectContinue: true)
        _ = machine.requestBody(ByteBuffer(string: "user"))
        guard case .sendContinue = machine.collectLocalBody() else { Issue.record("continue"); return }
        _ = machine.requestBody(ByteBuffer(string: "=alice"))
        guard case .submitLocalBody(let body) = machine.requestEnd() else { Issue.record("submit"); return }
        #expect(String(decoding: body, as: UTF8.self) == "user=alice")
        #expect(machine.readsRequest(upstreamWritable: false) == false, "waiting on the store")
    }

    @Test func upgrades() {
        var plain = Self.get()
        _ = plain.forward()
        _ = plain.connectionAcquired(reused: false)
        guard case .answer = plain.responseHead(code: 101, hasEffects: false) else { Issue.record("101 without upgrade"); return }
        var upgrade = Machine(facts: ExchangeFacts(keepAlive: true, upgrade: true))
        guard case .acquireConnection(fresh: true, _) = upgrade.forward() else { Issue.record("fresh"); return }
        _ = upgrade.connectionAcquired(reused: false)
        _ = upgrade.requestEnd()
        #expect(upgrade.responseHead(code: 101, hasEffects: false).isNone)
        guard case .switchToTunnel(let finish) = upgrade.responseEnd() else { Issue.record("switch"); return }
        #expect(finish.outcome == .upgraded)
        // A 101 before the upgrade request's body ended is refused.
        var early = Machine(facts: ExchangeFacts(keepAlive: true, framing: .length(3), upgrade: true))
        _ = early.forward()
        _ = early.connectionAcquired(reused: false)
        _ = early.responseHead(code: 101, hasEffects: false)
        guard case .answer = early.responseEnd() else { Issue.record("refused"); return }
    }

    @Test func readsPauseWhileWaiting() {
        var machine = Self.post(.chunked)
        #expect(!machine.readsRequest(upstreamWritable: true), "admitting")
        _ = machine.forward()
        #expect(!machine.readsRequest(upstreamWritable: true), "connecting")
        _ = machine.connectionAcquired(reused: false)
        #expect(machine.readsRequest(upstreamWritable: true))
        #expect(!machine.readsRequest(upstreamWritable: false), "the upstream cannot take more")
        _ = machine.requestEnd()
        #expect(machine.readsRequest(upstreamWritable: false), "nothing more to send")
    }

    @Test func outcomesOfAnsweredErrors() {
        #expect(ExchangeOutcome(answering: .unauthenticated) == .complete)
        #expect(ExchangeOutcome(answering: .notFound) == .complete)
        #expect(ExchangeOutcome(answering: .headerTimeout) == .timeout)
        #expect(ExchangeOutcome(answering: .badRequest) == .error)
        #expect(ExchangeOutcome(answering: .storeUnavailable) == .error)
        #expect(ExchangeOutcome(answering: .upstreamUnavailable) == .upstreamFailed)
    }
}

extension ExchangeStateMachine.Action {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
