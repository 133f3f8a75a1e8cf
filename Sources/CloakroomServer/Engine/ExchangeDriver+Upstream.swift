import CloakroomProxy
import HTTPTypes
import NIOCore

// The upstream side: a pooled connection, the request written on it, the timeout for the
// response head.
extension ExchangeDriver {
    func acquireConnection(fresh: Bool) {
        guard let pool else { return fail(ProxyError(.internalError, "no pool for upstream")) }
        let future: EventLoopFuture<(connection: UpstreamConnection, reused: Bool)>
        switch pool.acquire(on: transport.eventLoop, fresh: fresh) {
        case .idle(let connection): return attach(connection, reused: true)
        case .later(let pending): future = pending
        }
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let acquired):
                self.attach(acquired.connection, reused: acquired.reused)
            case .failure(let error):
                self.logger.warning(
                    "upstream unavailable", metadata: ["request_id": "\(self.requestID)", "upstream": "\(pool.name)", "error": "\(ErrorText.describe(error))"])
                self.perform(self.machine.connectionFailed(ErrorText.describe(error)))
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, reused: Bool) {
        let action = machine.connectionAcquired(reused: reused)
        guard case .sendRequest = action else {
            pool?.release(connection)  // the exchange ended meanwhile
            return
        }
        upstream = connection
        perform(action)
        transport.resumeReading()
    }

    /// Writes the request head on the attached connection, the body parts that waited, and the
    /// end if it came.
    func sendRequest(body: [ByteBuffer], end: Bool) {
        // Taken out and put back, not copied: a copy costs a retain and a release per part.
        // It stays for a retry on a fresh connection.
        guard let upstream, let request = upstreamRequest.take() else { return }
        upstream.begin(self, request: request)
        upstreamRequest = consume request
        for part in body {
            guard upstream.writeBody(part) else { return requestBodyBrokeFraming() }
        }
        upstreamSentAt = .now()
        if end {
            guard upstream.writeEnd() else { return requestBodyBrokeFraming() }
            startResponseTimer()
        }
        markUpstreamWritten()
        if !end { armRequestStallIfBlocked() }
    }

    /// Upstream writes made while the client's bytes are read are flushed once, at the read's end.
    func markUpstreamWritten() {
        upstreamNeedsFlush = true
        if !transport.inReadBatch { flushUpstreamIfNeeded() }
    }

    func flushUpstreamIfNeeded() {
        guard upstreamNeedsFlush else { return }
        upstreamNeedsFlush = false
        upstream?.flush()
    }

    // MARK: response_timeout

    func startResponseTimer() {
        guard upstream != nil else { return }
        armDeadline(requestStall: false) { $0.perform($0.machine.responseTimedOut()) }
    }

    /// While the request body is written, `response_timeout` bounds a stall instead: an
    /// upstream that takes no more of the body for that long (its buffers full, reading
    /// nothing, answering nothing) ends the exchange with 504, as nginx's
    /// `proxy_send_timeout` does. Found by an audit: such an upload waited forever, holding
    /// the client, the upstream connection and its `max_connections` slot after the client
    /// gave up. Armed when a body write leaves the upstream unwritable, disarmed when it can
    /// take more (``upstreamBecameWritable()``).
    func armRequestStallIfBlocked() {
        guard let upstream, !upstream.isWritable, !requestStallArmed, !machine.requestEnded else { return }
        armDeadline(requestStall: true) { $0.perform($0.machine.requestStalled()) }
    }

    /// The exchange's one deadline, `response_timeout` from now (replacing an armed one).
    private func armDeadline(requestStall: Bool, expire: @escaping (ExchangeDriver) -> Void) {
        let timeout = pool?.targets.settings.responseTimeout ?? .seconds(30)
        responseDeadlineArmed = true
        requestStallArmed = requestStall
        transport.responseDeadlines.arm(ObjectIdentifier(self), at: .now() + timeout.timeAmount) { [self] in
            responseDeadlineArmed = false
            requestStallArmed = false
            expire(self)
        }
    }

    /// Several endings disarm; only an armed deadline costs a call.
    func responseDeadlineDisarm() {
        guard responseDeadlineArmed else { return }
        responseDeadlineArmed = false
        requestStallArmed = false
        transport.responseDeadlines.disarm(ObjectIdentifier(self))
    }
}

// MARK: Phases 5 and 6: the upstream's response

extension ExchangeDriver: UpstreamExchangeDelegate {
    var downstreamWritable: Bool { machine.readsResponse(downstreamWritable: transport.isWritable) }

    func upstreamBecameWritable() {
        if requestStallArmed {
            requestStallArmed = false
            responseDeadlineDisarm()
        }
        transport.resumeReading()
    }

    func upstreamResponseHead(_ head: UpstreamResponseHead) {
        responseDeadlineDisarm()
        // NIO writes an HTTP/2 head as one HEADERS frame, no CONTINUATION, and a frame past the
        // client's SETTINGS_MAX_FRAME_SIZE (at least 16 KiB) ends the whole connection (found by
        // an audit: one response's 25 KB field cut every stream of the connection). A head that
        // may not fit is a 502 instead, as nginx's is past its proxy buffer.
        if connection.isHTTP2, head.bytes.readableBytes > Self.longestHTTP2Head {
            return failUpstream("response head of \(head.bytes.readableBytes) bytes is too large for one HTTP/2 frame")
        }
        if let sentAt = upstreamSentAt, let upstream = exchange?.route?.upstream {
            runtime.metrics.upstreamResponded(upstream: upstream, nanoseconds: (NIODeadline.now() - sentAt).nanoseconds, memo: &connection.metricsMemo)
        }
        // A route with `cors` rewrites the upstream's CORS fields: through the policy, always.
        if !head.needsPolicy && head.code != 101 && exchange?.route?.cors == nil {
            let action = machine.responseHead(code: head.code, hasEffects: false)
            guard case .writeResponseHead(let close) = action else { return performResponseAction(action) }
            // Nothing for the policy but its field rule: the head's lines are copied where the
            // transport can (HTTP/1.1), and the exchange is not.
            if transport.writeResponseHead(head, requestID: requestID, closeClient: close) { return }
            guard var response = try? head.response(), let exchange else { return failUpstream("unreadable response head") }
            _ = policy.filterResponse(&response, exchange: exchange)
            return transport.writeResponseHead(response, closeClient: close)
        }
        guard let exchange else { return }
        var response: HTTPResponse
        do {
            response = try head.response()
        } catch {
            return failUpstream("\(error)")
        }
        if head.code == 101 {
            // Control headers have no meaning on a 101 (a logout would end the tunnel it opens):
            // removed, not applied, and logged so the backend's intent is not lost unseen.
            let original = response
            if !policy.filterResponse(&response, exchange: exchange).isEmpty {
                logger.warning("session control header on a 101 answer ignored", metadata: ["request_id": "\(requestID)"])
            }
            response.headerFields[.connection] = "upgrade"
            response.headerFields[.upgrade] = original.headerFields[.upgrade]
            upgradeHead = response
            return performResponseAction(machine.responseHead(code: 101, hasEffects: false))
        }
        let effects = policy.filterResponse(&response, exchange: exchange)
        switch machine.responseHead(code: head.code, hasEffects: !effects.isEmpty) {
        case .writeResponseHead(let close):
            transport.writeResponseHead(response, closeClient: close)
        case .applyEffects:
            awaitStore({ policy in await policy.apply(effects, exchange: exchange) }) { [response] driver, result in
                driver.effectsDone(result, response: response)
            }
        case let other:
            performResponseAction(other)
        }
    }

    /// An action other than writing the head: the machine refused the head (an unexpected 101)
    /// or had moved on.
    private func performResponseAction(_ action: ExchangeStateMachine.Action) {
        if case .none = action { return }
        dropUpstream(close: true)
        perform(action)
    }

    /// The response can no longer be trusted: the upstream connection closes, the exchange fails.
    /// The largest upstream head (its HTTP/1.1 bytes) sent on to an HTTP/2 client: under the
    /// 16,384-byte frame every client accepts, with room for the proxy's own fields.
    static let longestHTTP2Head = 15_360

    private func failUpstream(_ detail: String) {
        dropUpstream(close: true)
        fail(ProxyError(.upstreamUnavailable, detail))
    }

    private func effectsDone(_ result: Result<[String], ProxyError>, response: HTTPResponse) {
        switch result {
        case .success(let setCookies):
            guard case .writeHeldResponse(let close, let body, let finish) = machine.effectsApplied() else { return }
            var response = response
            for value in setCookies { response.headerFields.append(HTTPField(name: .setCookie, value: value)) }
            transport.writeResponseHead(response, closeClient: close)
            for part in body { transport.writeResponseBody(part) }
            if let finish {
                finishResponse(finish)
            } else {
                transport.flush()
                upstream?.resumeReading()
            }
        case .failure(let error):
            dropUpstream(close: true)
            perform(machine.effectsFailed(error))
        }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        if case .writeResponseBody(let buffer) = machine.responseBody(buffer) {
            transport.writeResponseBody(buffer)
        }
    }

    func upstreamResponseEnd() {
        switch machine.responseEnd() {
        case .switchToTunnel(let finish):
            switchToTunnel(finish)
        case let action:
            perform(action)
        }
    }

    func upstreamReadComplete() {
        transport.flush()
        if case .streaming = machine.state, watchToken == nil { watchLongResponse() }
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        upstream = nil
        responseDeadlineDisarm()
        let stale: Bool
        if case .stale = failure { stale = true } else { stale = false }
        if case .error(let error) = failure {
            // The reason goes to the log (a TLS alert from an upstream that refused the client
            // certificate after the handshake, a reset); the client gets 502.
            logger.warning(
                "upstream connection failed",
                metadata: ["request_id": "\(requestID)", "upstream": "\(pool?.name ?? "?")", "error": "\(ErrorText.describe(error))"])
        }
        // The response turned bad in the read that brought its head (a broken first chunk):
        // nothing reached the client yet, so it gets a 502 rather than an empty reply.
        if case .streaming = machine.state, !stale, transport.retractResponseHead() {
            machine.responseHeadRetracted()
            perform(machine.fail(ProxyError(.upstreamUnavailable, "upstream response broke off before any of it was sent")))
            return
        }
        // Found by an audit: a response refused for its framing was logged as no response.
        let detail =
            switch failure {
            case .error(is HTTP1WireError): "upstream response malformed"
            case .error: "upstream connection failed before responding"
            case .stale, .closed: "upstream closed before responding"
            }
        perform(machine.upstreamFailed(stale: stale, detail: detail))
    }
}
