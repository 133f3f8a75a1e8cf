import CloakroomProxy
import HTTPTypes
import Logging
import NIOCore

// Carrying out the machine's actions: the one place where an exchange writes, connects,
// answers, ends and is recorded.
extension ExchangeDriver {
    func perform(_ action: ExchangeStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendContinue:
            transport.writeContinue()
            if !transport.inReadBatch { transport.flush() }
        case .acquireConnection(let fresh, let sendContinue):
            if sendContinue {
                transport.writeContinue()
                if !transport.inReadBatch { transport.flush() }
            }
            acquireConnection(fresh: fresh)
        case .releaseConnection:
            break  // handled where the connection arrives
        case .sendRequest(let body, let end):
            sendRequest(body: body, end: end)
        case .sendRequestBody(let buffer):
            guard let upstream else { return }
            guard upstream.writeBody(buffer) else { return requestBodyBrokeFraming() }
            markUpstreamWritten()
            armRequestStallIfBlocked()
        case .sendRequestEnd:
            guard let upstream else { return }
            guard upstream.writeEnd() else { return requestBodyBrokeFraming() }
            markUpstreamWritten()
            startResponseTimer()
        case .submitLocalBody(let body):
            submitLocalBody(body)
        case .writeResponseHead, .applyEffects, .writeHeldResponse, .writeResponseBody:
            preconditionFailure("response actions are performed where the response arrives")
        case .finish(let finish):
            finishResponse(finish)
        case .answer(let error):
            answerError(error)
        case .abort(let finish):
            dropUpstream(close: true)
            transport.abort()
            ended(finish)
        case .switchToTunnel:
            preconditionFailure("the switch is performed where the 101 ends")
        }
    }

    /// Fails the exchange: an error answer, or the connection's end once a response is under way.
    func fail(_ error: ProxyError) {
        perform(machine.fail(error))
    }

    /// The body did not fit the framing the upstream head declared. The upstream connection is
    /// closed already (nothing of the excess reached it); 400, and the client connection
    /// closes: its framing cannot be trusted.
    func requestBodyBrokeFraming() {
        upstream = nil
        machine.closeAfterResponse()
        fail(ProxyError(.badRequest, "\(UpstreamFramingViolation())"))
    }

    // MARK: Answers of the proxy's own

    func answerError(_ error: ProxyError) {
        logger.info(
            "request failed",
            metadata: ["request_id": "\(requestID)", "source": "\(error.source.rawValue)", "error": "\(error.code.rawValue)", "detail": "\(error.detail)"])
        var response = error.response(requestID: requestID)
        response.close = error.closesConnection
        exchange?.addCORSFields(to: &response.head.headerFields)
        answer(response)
    }

    /// Answers locally (errors, logout, redirects, the login page, echo): head, body, end. The
    /// outcome is the failure the response answers, if any.
    func answer(_ response: LocalResponse, outcome: ExchangeOutcome? = nil) {
        guard !machine.isFinished else { return }
        dropUpstream(close: true)
        let outcome = outcome ?? response.failure.map(ExchangeOutcome.init(answering:)) ?? .complete
        let finish = machine.answer(status: response.head.status.code, bodyBytes: response.body.count, close: response.close, outcome: outcome)
        var head = response.head
        // RFC 9110 §8.6: no Content-Length in a 204 (a preflight, a logout); 304s are not answered here.
        head.headerFields[.contentLength] = head.status.code == 204 ? nil : String(response.body.count)
        transport.writeResponseHead(head, closeClient: finish.closeClient)
        if !response.body.isEmpty && !machine.facts.isHEAD {
            transport.writeResponseBody(transport.allocator.buffer(bytes: response.body))
        }
        transport.endResponse(finish)
        ended(finish)
    }

    // MARK: Ending

    /// The response ended whole: the upstream connection goes back to its pool (or closes),
    /// the transport ends the response.
    func finishResponse(_ finish: ExchangeStateMachine.Finish) {
        dropUpstream(close: !finish.releaseUpstream)
        transport.endResponse(finish)
        ended(finish)
    }

    /// Lets go of the upstream connection: back to the pool, or closed.
    func dropUpstream(close: Bool) {
        responseDeadlineDisarm()
        guard let upstream else { return }
        self.upstream = nil
        if close {
            upstream.abort()
        } else {
            pool?.release(upstream)
        }
    }

    /// Every ending comes here once (the machine hands out one ``ExchangeStateMachine/Finish``
    /// per exchange): the watch stops, the exchange is counted and logged.
    func ended(_ finish: ExchangeStateMachine.Finish) {
        unwatchLongResponse()
        responseDeadlineDisarm()
        // Read through `exchange` in place: a copy of it costs a retain per field.
        // The proxy's own pages by their names, whatever route their path also matches (found
        // by an audit: a catch-all route counted the logouts as its own).
        let route: String =
            switch exchange?.endpoint {
            case .logout?: "logout"
            case .selfService?: "self_service"
            default: exchange?.route?.label ?? "none"
            }
        // What only the access log shows, made only when there is one.
        let logs = runtime.accessLog != nil
        // The route's upstream for what is forwarded; none for what the proxy answers itself
        // (found by an audit: the callback was logged with the catch-all route's upstream).
        let forwarded = exchange?.endpoint == .proxied || exchange?.endpoint == .login
        let upstream = logs && forwarded ? exchange?.route?.upstream : nil
        let session = logs ? exchange?.session.map { (handle: $0.handle, subject: $0.subject) } : nil
        let path = logs ? (exchange?.target ?? refusedTarget).map { String($0.prefix { $0 != "?" }) } ?? "" : ""
        let credential: String? =
            switch exchange?.credential {
            case .apiKey?: "api_key"
            case .bearer?: "bearer"
            case .unacceptable?, nil: nil
            }
        runtime.recorder.record(
            ExchangeRecorder.Entry(
                requestID: requestID, method: method, route: route, path: path, upstream: upstream, session: session, credential: credential,
                status: machine.status, bytes: machine.bytesOut, outcome: finish.outcome, startedAt: startedAt,
                client: exchange?.client.address ?? connection.client.address, traceID: traceID),
            memo: &connection.metricsMemo)
    }
}
