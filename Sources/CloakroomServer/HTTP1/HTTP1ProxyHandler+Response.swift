import CloakroomProxy
import HTTPTypes
import NIOCore
import Logging

// Phases 5 and 6: the upstream's response, its session effects, and local answers.
extension HTTP1ProxyHandler: UpstreamExchangeDelegate {
    var downstreamWritable: Bool { state != .applyingEffects && context.channel.isWritable }

    func upstreamBecameWritable() { resumeClientReads() }

    func upstreamResponseHead(_ head: UpstreamResponseHead) {
        guard state == .forwarding, let current, let requestID = current.exchange?.requestID else { return }
        disarmResponseTimer()
        if let sentAt = current.upstreamSentAt, let upstream = current.exchange?.route?.upstream {
            runtime.metrics.upstreamResponded(upstream: upstream, nanoseconds: (NIODeadline.now() - sentAt).nanoseconds, memo: &metricsMemo)
        }
        if !head.needsPolicy && bridge == nil && head.code != 101 {
            // Nothing for the policy but its field rule: the head's lines are copied (and the
            // exchange is not: a copy costs a retain per field).
            state = .streamingResponse
            writeResponseHead(head, requestID: requestID)
            return
        }
        guard let exchange = current.exchange else { return }
        if head.code == 101 {
            guard current.upgrade != nil, let response = try? head.response() else {
                current.upstream?.abort()
                current.upstream = nil
                return fail(ProxyError(.upstreamUnavailable, "upstream switched protocols without an upgrade request"), requestID: exchange.requestID)
            }
            return upstreamSwitchingProtocols(response, exchange: exchange)
        }
        let response: HTTPResponse
        do {
            response = try head.response()
        } catch {
            current.upstream?.abort()
            current.upstream = nil
            return fail(ProxyError(.upstreamUnavailable, "\(error)"), requestID: exchange.requestID)
        }
        filterAndWrite(response, exchange: exchange)
    }

    /// The policy's response filter, its session effects applied before the head is written.
    private func filterAndWrite(_ response: HTTPResponse, exchange: Exchange) {
        var response = response
        let effects = policy.filterResponse(&response, exchange: exchange)
        if effects.isEmpty {
            state = .streamingResponse
            writeResponseHead(response)
            return
        }
        state = .applyingEffects
        awaitStore({ policy in await policy.apply(effects, exchange: exchange) }) { handler, result in
            guard handler.state == .applyingEffects else { return }
            switch result {
            case .success(let setCookies):
                for value in setCookies { response.headerFields.append(HTTPField(name: .setCookie, value: value)) }
                handler.state = .streamingResponse
                handler.writeResponseHead(response)
                let held = handler.current?.heldResponseBody ?? []
                handler.current?.heldResponseBody = []
                for part in held {
                    handler.current?.bytesOut += part.readableBytes
                    handler.downstreamBody(part)
                }
                if handler.current?.heldResponseEnd == true {
                    handler.finishResponse()
                } else {
                    handler.flushDownstream()
                    handler.current?.upstream?.resumeReading()
                }
            case .failure(let error):
                handler.current?.upstream?.abort()
                handler.current?.upstream = nil
                handler.fail(error, requestID: exchange.requestID)
            }
        }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        switch state {
        case .streamingResponse:
            current?.bytesOut += buffer.readableBytes
            downstreamBody(buffer)
        case .applyingEffects:
            current?.heldResponseBody.append(buffer)
        default: break
        }
    }

    func upstreamResponseEnd() {
        switch state {
        case .upgrading(let head): switchToTunnel(head)
        case .streamingResponse: finishResponse()
        case .applyingEffects: current?.heldResponseEnd = true
        default: break
        }
    }

    func upstreamReadComplete() {
        if downstreamNeedsFlush { flushDownstream() }
        if state == .streamingResponse && watchToken == nil { watchLongResponse() }
    }

    /// A response still streaming after a whole read batch (server-sent events, a download, a
    /// long poll) is watched, so that it is cut when its session ends: the connection closes
    /// (HTTP/1.1) or the stream is reset (HTTP/2). Responses that finish within one read batch,
    /// nearly all of them, never touch the watch.
    private func watchLongResponse() {
        guard let exchange = current?.exchange, let session = exchange.session, let key = exchange.presentedID?.key else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        watchToken = runtime.watch.watch(key: key, subject: session.subject, on: context.eventLoop) {
            let handler = loopBound.value
            handler.watchToken = nil
            guard handler.state == .streamingResponse else { return }
            handler.logger.info("session ended during a response: closing", metadata: ["request_id": "\(exchange.requestID)"])
            handler.state = .closed
            handler.current?.upstream?.abort()
            handler.context.close(promise: nil)
        }
    }

    func unwatchLongResponse() {
        guard let token = watchToken else { return }
        watchToken = nil
        runtime.watch.unwatch(token, on: context.eventLoop)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let current else { return }
        current.upstream = nil
        switch state {
        case .forwarding:
            disarmResponseTimer()
            if case .stale = failure, current.reusedConnection, !current.retried, current.idempotent, !current.hasBody,
                let pool = current.pool
            {
                self.current?.retried = true
                return acquireUpstream(pool: pool, fresh: true)
            }
            logger.warning("upstream closed before responding", metadata: ["request_id": "\(current.exchange?.requestID ?? "")"])
            fail(ProxyError(.upstreamUnavailable, "upstream closed before responding"), requestID: current.exchange?.requestID)
        case .streamingResponse, .applyingEffects:
            // The response is already under way: the client can only learn of the failure from
            // a truncated response, so close.
            state = .closed
            context.close(promise: nil)
        default: break
        }
    }

    // MARK: Writing responses

    /// Writes the upstream's response head (filtered) to the client.
    private func writeResponseHead(_ response: HTTPResponse) {
        guard let current else { return }
        current.status = response.status.code
        downstreamHead(response, close: closesAfterUpstreamResponse(current))
    }

    /// Writes an upstream's response head that needs only the field rule, copying its lines.
    private func writeResponseHead(_ head: UpstreamResponseHead, requestID: String) {
        guard let current else { return }
        current.status = head.code
        downstreamHead(head, requestID: requestID, close: closesAfterUpstreamResponse(current))
    }

    private func closesAfterUpstreamResponse(_ current: Current) -> Bool {
        if !current.requestEnded && current.hasBody {
            // The backend answered before reading the whole body; the rest cannot be trusted.
            current.closeAfterResponse = true
        }
        return current.closeAfterResponse || !current.keepAlive
    }

    /// The upstream response ended: return the connection to the pool and complete the exchange.
    func finishResponse() {
        guard let current else { return }
        if let upstream = current.upstream {
            if current.requestEnded {
                current.pool?.release(upstream)
            } else {
                upstream.close()
            }
        }
        self.current?.upstream = nil
        completeExchange(close: current.closeAfterResponse || !current.keepAlive)
    }

    private func completeExchange(close: Bool) {
        let close = close || quiescing
        unwatchLongResponse()
        if let current { record(current) }
        state = close ? .closed : .idle
        disarmResponseTimer()
        let promise: EventLoopPromise<Void>? = close ? context.eventLoop.makePromise() : nil
        downstreamEnd(chunked: current?.responseChunked ?? false, promise: promise)
        if close, let bridge, current?.requestEnded == false {
            // RFC 9113 §8.1: a complete response before the whole request; the client is asked
            // to stop sending, without error (a CANCEL reset made curl spin on its upload).
            bridge.stopRequestBody()
        }
        current = nil
        if let promise {
            let context = self.context!
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            timeouts?.responseCompleted()
            // A pipelined request waiting in the buffer. (The exchange ended without closing,
            // so its request had ended: nothing else is left to parse.)
            if inbound.readableBytes > 0 { parseInbound() }
            resumeClientReads()
        }
    }

    /// Answers locally (errors, logout, redirects, echo).
    func respond(_ response: LocalResponse) {
        guard let current else { return }
        current.upstream?.abort()
        self.current?.upstream = nil
        state = .localResponse
        let close = response.close || current.closeAfterResponse || !current.keepAlive || (current.hasBody && !current.requestEnded)
        self.current?.status = response.head.status.code
        self.current?.bytesOut = current.isHEAD ? 0 : response.body.count
        var head = response.head
        head.headerFields[.contentLength] = String(response.body.count)
        downstreamHead(head, close: close)
        if !response.body.isEmpty {
            downstreamBody(context.channel.allocator.buffer(bytes: response.body))
        }
        completeExchange(close: close)
    }

    /// Answers an error; logs it with its source. Closes when the error requires it.
    func fail(_ error: ProxyError, requestID: String?) {
        let requestID = requestID ?? requestIDs.next()
        logger.info(
            "request failed",
            metadata: ["request_id": "\(requestID)", "source": "\(error.source.rawValue)", "error": "\(error.code.rawValue)", "detail": "\(error.detail)"])
        guard state != .streamingResponse, state != .closed else {
            state = .closed
            current?.upstream?.abort()
            context.close(promise: nil)
            return
        }
        var response = error.response(requestID: requestID)
        response.close = error.closesConnection
        respond(response)
    }

    /// Counts the answered request and writes its access log line: never the session ID or a
    /// cookie, never the query string (it may carry tokens).
    func record(_ current: Current) {
        // Read through `current` for the metrics: a copy of the exchange costs a retain per field.
        let route = current.exchange?.route?.path ?? (current.exchange?.endpoint == .logout ? "logout" : "none")
        runtime.metrics.answered(route: route, status: current.status, memo: &metricsMemo)
        guard let accessLog = runtime.accessLog else { return }
        let exchange = current.exchange
        var metadata: Logger.Metadata = [
            "request_id": .string(exchange?.requestID ?? ""),
            "method": .string(current.method.rawValue),
            "path": .string(exchange.map { String($0.target.prefix { $0 != "?" }) } ?? ""),
            "status": .stringConvertible(current.status),
            "bytes": .stringConvertible(current.bytesOut),
            "duration_ms": .stringConvertible(Double((NIODeadline.now() - current.startedAt).nanoseconds / 1000) / 1000),
            "client": .string(client.address),
        ]
        if let upstream = exchange?.route?.upstream, exchange?.endpoint != .logout { metadata["upstream"] = .string(upstream) }
        if let session = exchange?.session {
            metadata["session"] = .string(session.handle)
            metadata["sub"] = .string(session.subject)
        }
        accessLog.info("request", metadata: metadata)
    }
}
