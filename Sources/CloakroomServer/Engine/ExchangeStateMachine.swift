import CloakroomProxy
import NIOCore

/// One forwarded exchange — a request and its response, on an HTTP/1.1 connection or an HTTP/2
/// stream — as a value: where it is, what it holds back, and what the shell must do next. No
/// I/O: events go in (the request's parts, the policy's decision, the upstream's parts,
/// failures, deadlines), actions come out, as in SwiftNIO's and async-http-client's state
/// machines. ``ExchangeDriver`` is the shell that carries the actions out.
///
/// Three rules live here and nowhere else:
/// - **Close**: whether the client connection ends with this exchange (``closesClient``).
/// - **Retry**: whether a failed request is sent again (``UpstreamPoolStateMachine/mayRetry(stale:reused:idempotent:hasBody:retried:)``).
/// - **Record**: every exchange ends in ``State/finished(_:)`` exactly once, through a
///   ``Finish`` carrying its ``ExchangeOutcome``, however it ends; the shell writes one access
///   log line and one metrics record for each.
struct ExchangeStateMachine {
    enum State {
        /// Phases 1 to 3: route, session lookup, authorization. Body parts wait.
        case admitting
        /// Reading a body the proxy answers itself (the built-in login's POST).
        case collectingLocalBody([UInt8])
        /// The proxy's answer waits on the store (logout, a login being checked).
        case awaitingLocalAnswer
        /// Waiting for an upstream connection. Body parts wait.
        case connecting
        /// The request is going upstream; no response head yet.
        case forwarding
        /// The response head is held while its session effects apply; body parts wait.
        case applyingEffects(held: [ByteBuffer], ended: Bool)
        /// The response is going downstream.
        case streaming
        /// The upstream switched protocols (101); the switch happens at the head's end.
        case upgrading
        case finished(ExchangeOutcome)
    }

    /// How an exchange ends, for the shell to carry out, then record.
    struct Finish: Equatable {
        var outcome: ExchangeOutcome
        /// Return the upstream connection to its pool; otherwise it is closed (if there is one).
        var releaseUpstream = false
        /// The client connection ends with this exchange: `Connection: close` on an HTTP/1.1
        /// response still to be written, the connection closed after it (at once when the
        /// response cannot be finished). An HTTP/2 stream ends either way.
        var closeClient: Bool
        /// The response is complete while the request body is still coming: the rest is not
        /// wanted (HTTP/2: `RST_STREAM` with `NO_ERROR`, RFC 9113 §8.1).
        var requestUnfinished = false
    }

    enum Action {
        case none
        /// Write `100 Continue`.
        case sendContinue
        /// Get an upstream connection: a fresh one for an upgrade or a retry. `sendContinue`
        /// first when the client waits for it.
        case acquireConnection(fresh: Bool, sendContinue: Bool)
        /// The connection came too late (the exchange ended meanwhile): give it back.
        case releaseConnection
        /// Write the request head upstream, then `body`, then the request's end if `end` (and
        /// start the response timeout).
        case sendRequest(body: [ByteBuffer], end: Bool)
        case sendRequestBody(ByteBuffer)
        /// Write the request's end upstream and start the response timeout.
        case sendRequestEnd
        /// The built-in login's body is complete: check it.
        case submitLocalBody([UInt8])
        /// Write the upstream's response head.
        case writeResponseHead(closeClient: Bool)
        /// Hold the head and apply its session effects (``effectsApplied()`` follows).
        case applyEffects
        /// Effects applied: write the head, then the parts held meanwhile, then finish if the
        /// response had ended.
        case writeHeldResponse(closeClient: Bool, body: [ByteBuffer], finish: Finish?)
        case writeResponseBody(ByteBuffer)
        /// The response was written whole.
        case finish(Finish)
        /// Answer with this error; nothing was written downstream yet (``answer(status:bodyBytes:close:outcome:)`` follows).
        case answer(ProxyError)
        /// The response cannot be completed: end the client connection (an HTTP/2 stream) now.
        case abort(Finish)
        /// The 101's head ended: both connections become a tunnel.
        case switchToTunnel(Finish)
    }

    let facts: ExchangeFacts
    private(set) var state = State.admitting
    /// Body parts that arrived before the upstream connection (or the local answer) was there.
    private var pendingBody: [ByteBuffer] = []
    private(set) var requestEnded = false
    private(set) var requestBytes = 0
    /// The status sent, or to be sent (0 until known).
    private(set) var status = 0
    /// Response body bytes written downstream.
    private(set) var bytesOut = 0
    private var headSent = false
    private var responseBodyless = false
    private var upstreamReused = false
    private var retried = false
    /// The client connection ends after this exchange whatever else says (a malformed request,
    /// shutdown).
    private var closeAfter = false

    init(facts: ExchangeFacts) {
        self.facts = facts
    }

    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// The close rule: the client connection ends with this exchange when the client asked
    /// for it (or speaks HTTP/1.0 without keep-alive), when something forced it (a malformed
    /// request, shutdown, an upgrade request), or when the response ends before the request
    /// body did (the rest of the body cannot be told from the next request).
    var closesClient: Bool {
        closeAfter || !facts.keepAlive || facts.upgrade || (facts.framing.hasBody && !requestEnded)
    }

    /// The client connection ends after this exchange (the server is shutting down, or the
    /// request's framing cannot be trusted).
    mutating func closeAfterResponse() { closeAfter = true }

    // MARK: The request

    mutating func requestBody(_ buffer: ByteBuffer) -> Action {
        requestBytes += buffer.readableBytes
        switch state {
        case .finished, .awaitingLocalAnswer:
            return .none  // read and dropped: the answer does not depend on it
        case .collectingLocalBody(var body):
            guard body.count + buffer.readableBytes <= BuiltinLogin.maxBodyBytes else {
                return fail(ProxyError(.bodyTooLarge, "login body over \(BuiltinLogin.maxBodyBytes) bytes"))
            }
            state = .admitting  // no copy of the body while it grows
            body.append(contentsOf: buffer.readableBytesView)
            state = .collectingLocalBody(body)
            return .none
        default:
            break
        }
        guard requestBytes <= facts.maxBodyBytes else { return fail(ProxyError(.bodyTooLarge, "request body over max_body_bytes")) }
        switch state {
        case .admitting, .connecting:
            pendingBody.append(buffer)
            return .none
        case .forwarding, .applyingEffects, .streaming, .upgrading:
            return .sendRequestBody(buffer)
        case .collectingLocalBody, .awaitingLocalAnswer, .finished:
            return .none
        }
    }

    mutating func requestEnd() -> Action {
        requestEnded = true
        switch state {
        case .collectingLocalBody(let body):
            state = .awaitingLocalAnswer
            return .submitLocalBody(body)
        case .forwarding, .applyingEffects, .streaming, .upgrading:
            return .sendRequestEnd
        case .admitting, .connecting, .awaitingLocalAnswer, .finished:
            return .none
        }
    }

    // MARK: The policy's decision (phase 3)

    /// Forward upstream.
    mutating func forward() -> Action {
        guard case .admitting = state else { return .none }
        state = .connecting
        return .acquireConnection(fresh: facts.upgrade, sendContinue: facts.expectContinue && !requestEnded)
    }

    /// Read the body and answer locally (the built-in login's POST).
    mutating func collectLocalBody() -> Action {
        guard case .admitting = state else { return .none }
        var body: [UInt8] = []
        for part in pendingBody { body.append(contentsOf: part.readableBytesView) }
        pendingBody = []
        guard body.count <= BuiltinLogin.maxBodyBytes else { return fail(ProxyError(.bodyTooLarge, "login body too large")) }
        if requestEnded {
            state = .awaitingLocalAnswer
            return .submitLocalBody(body)
        }
        state = .collectingLocalBody(body)
        return facts.expectContinue ? .sendContinue : .none
    }

    /// The answer depends on the store (logout).
    mutating func awaitLocalAnswer() {
        if case .admitting = state { state = .awaitingLocalAnswer }
    }

    /// The proxy answers itself now, with `status` and a body of `bodyBytes` (an error, a
    /// redirect, the logout, a page). `close`: the answer itself asks for the connection's
    /// end. Returns how the exchange ends, which the shell applies to the answer it writes.
    mutating func answer(status: Int, bodyBytes: Int, close: Bool, outcome: ExchangeOutcome = .complete) -> Finish {
        if close { closeAfter = true }
        self.status = status
        bytesOut = facts.isHEAD ? 0 : bodyBytes
        headSent = true
        state = .finished(outcome)
        return Finish(outcome: outcome, closeClient: closesClient, requestUnfinished: !requestEnded)
    }

    // MARK: The upstream connection

    mutating func connectionAcquired(reused: Bool) -> Action {
        guard case .connecting = state else { return .releaseConnection }
        state = .forwarding
        upstreamReused = reused
        let body = pendingBody
        pendingBody = []
        return .sendRequest(body: body, end: requestEnded)
    }

    mutating func connectionFailed(_ detail: String) -> Action {
        guard case .connecting = state else { return .none }
        return fail(ProxyError(.upstreamUnavailable, detail))
    }

    /// The upstream connection failed or closed before the response ended. `stale`: it had
    /// served before and sent nothing for this request (the server timed it out as the
    /// request arrived). `detail`: what the log says of a failure before the response head.
    mutating func upstreamFailed(stale: Bool, detail: String = "upstream closed before responding") -> Action {
        switch state {
        case .forwarding:
            if UpstreamPoolStateMachine<UpstreamConnection, Int>.mayRetry(
                stale: stale, reused: upstreamReused, idempotent: facts.idempotent, hasBody: facts.framing.hasBody, retried: retried)
            {
                retried = true
                state = .connecting
                return .acquireConnection(fresh: true, sendContinue: false)
            }
            return fail(ProxyError(.upstreamUnavailable, detail))
        case .upgrading:
            return fail(ProxyError(.upstreamUnavailable, "upstream closed after switching protocols"))
        case .applyingEffects, .streaming:
            // Under way: the client can only learn of it from a cut response.
            return finishAbruptly(.upstreamFailed)
        case .admitting, .collectingLocalBody, .awaitingLocalAnswer, .connecting, .finished:
            return .none
        }
    }

    /// The transport took the response head back before any of it was written: the exchange is
    /// again one with no response, which an error answer can still end (``fail(_:)``).
    mutating func responseHeadRetracted() {
        guard case .streaming = state else { return }
        state = .forwarding
        headSent = false
        status = 0
        bytesOut = 0
        responseBodyless = false
    }

    mutating func responseTimedOut() -> Action {
        guard case .forwarding = state else { return .none }
        return fail(ProxyError(.upstreamTimeout, "no response head within response_timeout"))
    }

    /// The upstream took none of the request body for `response_timeout` (and sent no head).
    mutating func requestStalled() -> Action {
        guard case .forwarding = state, !requestEnded else { return .none }
        return fail(ProxyError(.upstreamTimeout, "the upstream took none of the request body within response_timeout"))
    }

    // MARK: The response

    /// The upstream's response head: `code`, and whether it asks for session effects.
    mutating func responseHead(code: Int, hasEffects: Bool) -> Action {
        guard case .forwarding = state else { return .none }
        status = code
        if code == 101 {
            guard facts.upgrade else {
                return fail(ProxyError(.upstreamUnavailable, "upstream switched protocols without an upgrade request"))
            }
            state = .upgrading
            return .none
        }
        responseBodyless = facts.isHEAD || code < 200 || code == 204 || code == 304
        if hasEffects {
            state = .applyingEffects(held: [], ended: false)
            return .applyEffects
        }
        state = .streaming
        headSent = true
        return .writeResponseHead(closeClient: closesClient)
    }

    mutating func effectsApplied() -> Action {
        guard case .applyingEffects(let held, let ended) = state else { return .none }
        state = .streaming
        headSent = true
        let body = responseBodyless ? [] : held
        for part in body { bytesOut += part.readableBytes }
        let finish = ended ? finishNormally() : nil
        return .writeHeldResponse(closeClient: closesClient, body: body, finish: finish)
    }

    /// The session effects could not be applied (the store failed): the response must not
    /// look like it worked.
    mutating func effectsFailed(_ error: ProxyError) -> Action {
        guard case .applyingEffects = state else { return .none }
        return fail(error)
    }

    mutating func responseBody(_ buffer: ByteBuffer) -> Action {
        switch state {
        case .streaming:
            guard !responseBodyless else { return .none }
            bytesOut += buffer.readableBytes
            return .writeResponseBody(buffer)
        case .applyingEffects(var held, let ended):
            state = .admitting  // no copy of the held parts while they grow
            held.append(buffer)
            state = .applyingEffects(held: held, ended: ended)
            return .none
        default:
            return .none
        }
    }

    mutating func responseEnd() -> Action {
        switch state {
        case .streaming:
            return .finish(finishNormally())
        case .applyingEffects(let held, _):
            state = .applyingEffects(held: held, ended: true)
            return .none
        case .upgrading:
            guard requestEnded else {
                // The upgrade request's body was still coming: its remaining bytes would reach
                // the tunnel in their HTTP/1.1 framing. RFC 9110 §7.8 has the server read the
                // whole request before switching.
                return fail(ProxyError(.upstreamUnavailable, "upstream switched protocols before the request body ended"))
            }
            state = .finished(.upgraded)
            return .switchToTunnel(Finish(outcome: .upgraded, closeClient: false))
        default:
            return .none
        }
    }

    private mutating func finishNormally() -> Finish {
        state = .finished(.complete)
        return Finish(outcome: .complete, releaseUpstream: requestEnded, closeClient: closesClient, requestUnfinished: !requestEnded)
    }

    // MARK: Endings from outside

    /// The session behind a streaming response ended.
    mutating func sessionEnded() -> Action {
        guard case .streaming = state else { return .none }
        return finishAbruptly(.sessionEnded)
    }

    /// The client connection (or stream) is gone, closed or failed (a reset, a broken pipe, a
    /// TLS record cut short): the client left, which is `client_closed` (found by an audit: a
    /// reset mid-download was counted as the proxy's `error`).
    mutating func clientGone(timedOut: Bool = false) -> Finish? {
        guard !isFinished else { return nil }
        if !headSent && status == 0 { status = 499 }  // nginx's "client closed request"
        let outcome: ExchangeOutcome = timedOut ? .timeout : .clientClosed
        state = .finished(outcome)
        return Finish(outcome: outcome, closeClient: true, requestUnfinished: !requestEnded)
    }

    /// Fails the exchange: an error answer when nothing was written downstream yet, else the
    /// connection ends.
    mutating func fail(_ error: ProxyError) -> Action {
        switch state {
        case .finished: return .none
        case .streaming: return finishAbruptly(ExchangeOutcome(answering: error.code))
        default: break
        }
        if error.closesConnection { closeAfter = true }
        return .answer(error)
    }

    private mutating func finishAbruptly(_ outcome: ExchangeOutcome) -> Action {
        state = .finished(outcome)
        return .abort(Finish(outcome: outcome, closeClient: true, requestUnfinished: !requestEnded))
    }
}
