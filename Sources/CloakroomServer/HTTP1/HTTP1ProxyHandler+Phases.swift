import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import NIOCore

// Phases 2 to 4 for one request: the session lookup, authorization, then either a local
// answer (logout, built-in login) or the upstream request on a pooled connection.
extension HTTP1ProxyHandler {
    // MARK: Phases 2 and 3: session, authorization

    /// Looks the session up, at once when the store can. The exchange moves on from phase to
    /// phase and is stored in ``current`` once it is complete (see ``authorize(request:exchange:)``):
    /// each copy of an exchange costs a retain and a release per field.
    func resolveSession(request: consuming HTTPRequest, exchange: consuming Exchange) {
        guard exchange.needsLookup, let key = exchange.presentedID?.key else {
            return authorize(request: request, exchange: exchange)
        }
        if let immediate = policy.immediateLookup {
            do {
                exchange.session = try immediate.lookupNow(key: key, cache: attributesCache)
            } catch {
                current?.exchange = exchange
                return fail(policy.lookupFailed(error, exchange: exchange), requestID: exchange.requestID)
            }
            return authorize(request: request, exchange: exchange)
        }
        current?.exchange = exchange
        state = .awaitingStore
        awaitSession(key: key, request: request, exchange: exchange)
    }

    /// The lookup that completes later: on the event loop (Redis) or off it.
    private func awaitSession(key: SessionKey, request: HTTPRequest, exchange: Exchange) {
        if let looped = runtime.eventLoopLookup {
            let generation = self.generation
            looped.lookup(key: key, on: context.eventLoop, cache: attributesCache).assumeIsolated().whenComplete { result in
                guard self.generation == generation, self.state == .awaitingStore else { return }
                self.sessionResolved(result, request: request, exchange: exchange)
            }
            return
        }
        awaitStore({ policy -> Result<Session?, any Error> in
            do { return .success(try await policy.store.lookup(key: key)) } catch { return .failure(error) }
        }) { handler, result in
            guard handler.state == .awaitingStore else { return }
            handler.sessionResolved(result, request: request, exchange: exchange)
        }
    }

    private func sessionResolved(_ result: Result<Session?, any Error>, request: HTTPRequest, exchange: Exchange) {
        switch result {
        case .success(let session):
            var exchange = exchange
            exchange.session = session
            authorize(request: request, exchange: exchange)
        case .failure(let error):
            fail(policy.lookupFailed(error, exchange: exchange), requestID: exchange.requestID)
        }
        resumeClientReads()
    }

    /// Phase 3. The exchange is stored in ``current`` before anything can answer the request
    /// (the answer is counted and logged from there); a forwarded one, by ``forward(request:exchange:)``
    /// once it has read what it needs, moved rather than copied.
    func authorize(request: consuming HTTPRequest, exchange: consuming Exchange) {
        let authorization = policy.authorize(exchange)
        if case .forward = authorization { return forward(request: request, exchange: exchange) }
        current?.exchange = exchange
        switch authorization {
        case .respond(let response):
            respond(response)
        case .logout:
            state = .awaitingStore
            let exchange = copy exchange
            awaitStore({ policy in await policy.logout(exchange) }) { handler, response in handler.respond(response) }
        case .forward:
            break  // above
        case .builtinLogin:
            collectLocalBody()
        }
    }

    /// Starts reading the built-in login's body (parts that already arrived included).
    func collectLocalBody() {
        guard let current else { return }
        state = .collectingLocalBody
        for part in current.pendingBody {
            guard current.localBody.count + part.readableBytes <= BuiltinLogin.maxBodyBytes else {
                return fail(ProxyError(.bodyTooLarge, "login body too large"), requestID: current.exchange?.requestID)
            }
            current.localBody.append(contentsOf: part.readableBytesView)
        }
        current.pendingBody.removeAll()
        if current.expectContinue && !current.requestEnded {
            downstreamContinue()
            flushDownstream()
        }
        if current.requestEnded { submitLocalBody() }
    }

    func submitLocalBody() {
        guard let current, let exchange = current.exchange, let login = policy.builtinLogin else { return }
        state = .awaitingStore
        let body = current.localBody, contentType = current.contentType
        awaitStore({ _ in await login.submit(body: body, contentType: contentType, exchange: exchange) }) { handler, response in
            handler.respond(response)
        }
    }

    /// Runs `work` off the event loop, then `then` back on it if the request is still current.
    func awaitStore<T: Sendable>(
        _ work: @escaping @Sendable (ProxyPolicy) async -> T, then: @escaping (HTTP1ProxyHandler, T) -> Void
    ) {
        let policy = self.policy
        let generation = self.generation
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let thenBound = NIOLoopBound(then, eventLoop: eventLoop)
        Task {
            let value = await work(policy)
            eventLoop.execute {
                let handler = loopBound.value
                guard handler.generation == generation, handler.state != .closed else { return }
                thenBound.value(handler, value)
            }
        }
    }

    // MARK: Phase 4: upstream request

    /// `request` is handed over, not shared: the policy edits its fields in place.
    func forward(request: consuming HTTPRequest, exchange: consuming Exchange) {
        guard let current else { return }
        // Phase 4 in two halves: the additions are written straight into the upstream head.
        let filter = policy.stripUpstreamRequest(&request)
        let additions = policy.upstreamAdditions(for: exchange, authority: request.authority, injectionMemo: injectionMemo)
        let requestID = exchange.requestID, route = exchange.route
        current.exchange = consume exchange
        guard let route else { return fail(ProxyError(.internalError, "no route"), requestID: requestID) }
        // Moved out, not copied: the upstream request is the lines' only reader from here on.
        let lines = current.requestLines
        current.requestLines = ByteBuffer()
        if runtime.upstreams.echo.contains(route.upstream) {
            // The echo shows every field the backend would get: the raw lines' too.
            additions.append(to: &request.headerFields)
            HTTP1Head.appendFields(lines: lines, filter: filter, to: &request.headerFields)
            return respond(EchoResponder.response(for: request, requestID: requestID, policy: policy))
        }
        guard let pool = runtime.upstreams.pool(on: context.eventLoop, upstream: route.upstream) else {
            return fail(ProxyError(.internalError, "no pool for upstream"), requestID: requestID)
        }
        current.pool = pool
        current.upstreamRequest = UpstreamRequest(
            request: request, lines: lines, filter: filter, additions: additions, chunked: current.chunkedBody, upgrade: current.upgrade,
            isHEAD: current.isHEAD)
        if current.expectContinue && !current.requestEnded {
            downstreamContinue()
            if !inReadBatch { flushDownstream() }
        }
        // An upgrade gets its own connection: it never returns to the pool.
        acquireUpstream(pool: pool, fresh: current.upgrade != nil)
    }

    func acquireUpstream(pool: UpstreamPool, fresh: Bool) {
        state = .awaitingUpstream
        let future: EventLoopFuture<(connection: UpstreamConnection, reused: Bool)>
        switch pool.acquire(fresh: fresh) {
        case .idle(let connection): return attach(connection, reused: true)
        case .later(let pending): future = pending
        }
        let generation = self.generation
        future.assumeIsolated().whenComplete { result in
            guard self.generation == generation, self.state == .awaitingUpstream else {
                if case .success(let acquired) = result { pool.release(acquired.connection) }
                return
            }
            switch result {
            case .success(let acquired):
                self.attach(acquired.connection, reused: acquired.reused)
            case .failure(let error):
                self.logger.warning(
                    "upstream unavailable",
                    metadata: ["request_id": "\(self.current?.exchange?.requestID ?? "")", "upstream": "\(pool.targets.name)", "error": "\(error)"])
                self.fail(ProxyError(.upstreamUnavailable, "\(error)"), requestID: self.current?.exchange?.requestID)
            }
        }
    }

    func attach(_ connection: UpstreamConnection, reused: Bool) {
        // Taken out and put back, not copied: a copy costs a retain and a release per part. It
        // stays for a retry on a fresh connection (``upstreamFailed(_:)``).
        guard let current, let request = current.upstreamRequest.take() else { return }
        state = .forwarding
        current.upstream = connection
        current.reusedConnection = reused
        connection.begin(self, request: request)
        current.upstreamRequest = consume request
        for part in current.pendingBody { connection.writeBody(part) }
        current.pendingBody.removeAll()
        current.upstreamSentAt = .now()
        if current.requestEnded {
            connection.writeEnd()
            startResponseTimer()
        }
        upstreamNeedsFlush = true
        if !inReadBatch { flushUpstreamIfNeeded() }
        resumeClientReads()
    }

    func flushUpstreamIfNeeded() {
        guard upstreamNeedsFlush else { return }
        upstreamNeedsFlush = false
        current?.upstream?.flush()
    }
}
