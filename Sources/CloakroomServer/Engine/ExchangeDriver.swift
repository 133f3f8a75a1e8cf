import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Logging
import NIOCore

/// Drives one exchange through the ``ProxyPolicy`` phases and its ``ExchangeStateMachine``: the
/// shell that calls the policy, the store and the upstream pool, and carries out the machine's
/// actions on the ``ExchangeTransport`` (client side) and an ``UpstreamConnection``.
///
/// Protocol-neutral: an HTTP/1.1 connection starts one per request, an HTTP/2 stream one per
/// stream. Async work (a store lookup, session effects, an upstream connection) completes on
/// the event loop and is ignored when the machine has moved on, so a late result of an ended
/// exchange does nothing.
///
/// - Important: Loop-bound: every method runs on the transport's event loop.
final class ExchangeDriver {
    let transport: any ExchangeTransport
    let connection: ClientConnection
    /// The runtime the exchange started under (a reload applies to the next one).
    let runtime: ProxyRuntime
    var machine: ExchangeStateMachine
    let requestID: String
    let method: HTTPRequest.Method
    /// When the exchange began, for its duration: now, or when its head began to arrive.
    private(set) var startedAt = NIODeadline.now()
    /// The policy's view of the exchange, once phase 1 made it.
    var exchange: Exchange?
    /// The target of a request refused before it became an exchange (no route: 404), for the
    /// access log's `path`.
    var refusedTarget: String?
    /// The `Upgrade` value of an HTTP/1.1 upgrade request.
    let upgrade: String?
    let contentType: String?
    /// The client's field lines the policy does not read (``ClientRequestHead/lines``), until
    /// the upstream request takes them.
    var requestLines: ByteBuffer
    /// The upstream request, kept after it is written for a retry on a fresh connection.
    var upstreamRequest: UpstreamRequest?
    var upstream: UpstreamConnection?
    var pool: UpstreamPool?
    var upstreamSentAt: NIODeadline?
    var upstreamNeedsFlush = false
    var responseDeadlineArmed = false
    /// The armed deadline is the upstream's stall on the request body (``armRequestStallIfBlocked()``).
    var requestStallArmed = false
    /// Set while a response that outlived one read batch is watched (``watchLongResponse()``).
    var watchToken: SessionWatch.Token?
    /// The 101 to write once its head ended and the connections become a tunnel.
    var upgradeHead: HTTPResponse?
    /// The W3C trace this request is part of: the client's, or one started here
    /// (``startedTraceparent``, sent upstream in place of a missing or malformed one).
    var traceID = ""
    var startedTraceparent: String?

    var policy: ProxyPolicy { runtime.policy }
    var logger: Logger { runtime.logger }

    private init(
        transport: any ExchangeTransport, runtime: ProxyRuntime, facts: ExchangeFacts, requestID: String, method: HTTPRequest.Method,
        upgrade: String?, contentType: String?, lines: ByteBuffer
    ) {
        self.transport = transport
        self.connection = transport.connection
        self.runtime = runtime
        self.machine = ExchangeStateMachine(facts: facts)
        self.requestID = requestID
        self.method = method
        self.upgrade = upgrade
        self.contentType = contentType
        self.requestLines = lines
    }

    // MARK: Starting

    /// Starts the exchange of a request head; phase 1 runs at once, and everything else as far
    /// as it can without waiting.
    static func start(_ head: consuming ClientRequestHead, on transport: any ExchangeTransport) -> ExchangeDriver {
        let connection = transport.connection
        let runtime = connection.runtimeForNextExchange()
        let policy = runtime.policy
        // Read in place, not copied out: each copy of a head part retains its strings.
        let requestID = head.framing.requestID.flatMap { RequestID.isValid($0) ? $0 : nil } ?? connection.requestIDs.next()
        let chunked = head.framing.transferEncoding != nil
        // Digits only: HTTP/1.1's parser checked them; HTTP/2's `content-length` NIO read with `Int`.
        let declaredLength = head.framing.contentLength.map { UpstreamFraming.parseLength($0) ?? -1 }
        let bodyMayFollow = head.bodyMayFollow
        // RFC 9110 §10.1.1: no 100 (Continue) for an HTTP/1.0 client.
        let expectContinue =
            head.version != .http1_0 && head.framing.expect.map { ASCIIText.equalsIgnoringCase($0.utf8, "100-continue") } ?? false
        let contentType = head.framing.contentType
        let version = head.version, keepAlive = head.keepAlive
        let upgrade = connection.isHTTP2 ? nil : requestedUpgrade(head)
        let cookie = head.takeSessionCookie(policy.cookies, memo: connection.cookieMemo, owner: ObjectIdentifier(policy))
        let lines = head.lines
        // Moved out, not copied: the policy edits the fields in place.
        var request = (consume head).request
        let method = request.method
        let facts = ExchangeFacts(
            keepAlive: keepAlive, isHEAD: method == .head, idempotent: isIdempotent(method),
            framing: UpstreamFraming.decide(method: method, contentLength: declaredLength, chunked: chunked, bodyMayFollow: bodyMayFollow),
            expectContinue: expectContinue, upgrade: upgrade != nil, maxBodyBytes: runtime.limits.maxBodyBytes)
        let driver = ExchangeDriver(
            transport: transport, runtime: runtime, facts: facts, requestID: requestID, method: method, upgrade: upgrade,
            contentType: contentType, lines: lines)
        if connection.quiescing { driver.machine.closeAfterResponse() }
        transport.exchangeStarted(driver)
        if version.major != (connection.isHTTP2 ? 2 : 1) {
            driver.fail(ProxyError(.badRequest, "unsupported HTTP version"))
        } else if let declaredLength, declaredLength < 0 {
            driver.fail(ProxyError(.badRequest, "invalid content-length"))
        } else {
            let begun = policy.begin(&request, client: connection.client, requestID: requestID, cookieMemo: connection.cookieMemo, cookie: cookie)
            // Consumed, not copied: the exchange moves on as the only copy.
            switch consume begun {
            case .failure(let error):
                // Its access-log line has the path and trace of a request read whole.
                driver.refusedTarget = request.path
                driver.traceRequest(&request)
                driver.fail(error)
            case .success(let exchange):
                driver.traceRequest(&request)
                if let declaredLength, declaredLength > runtime.limits.maxBodyBytes {
                    // Refused before any lookup; known by then, the route's CORS fields go on
                    // the 413 for an allowed origin, as on every answer of the proxy's own.
                    driver.exchange = exchange
                    driver.fail(ProxyError(.bodyTooLarge, "declared Content-Length over max_body_bytes"))
                } else {
                    driver.resolveSession(request: request, exchange: exchange)
                }
            }
        }
        return driver
    }

    /// An exchange for a request that could not be parsed: it exists to answer 400 (431 for a
    /// head too large) and be recorded (with its `method` when the request line began with
    /// one); the connection closes after it.
    static func malformed(
        _ error: HTTP1WireError, method: HTTPRequest.Method? = nil, requestID: String?, on transport: any ExchangeTransport
    ) -> ExchangeDriver {
        refused(
            ProxyError(error.kind == .headersTooLarge ? .headersTooLarge : .badRequest, error.detail), method: method ?? .get,
            requestID: requestID, on: transport)
    }

    /// An exchange for a request the connection ends without reading it whole (a malformed one,
    /// a head that did not arrive within `client.header_timeout`): it answers `error` like any
    /// of the proxy's answers (`X-Request-Id`, `Cache-Control: no-store`) and is recorded; the
    /// connection closes after it.
    static func refused(
        _ error: ProxyError, method: HTTPRequest.Method = .get, requestID: String?, on transport: any ExchangeTransport,
        startedAt: NIODeadline? = nil
    ) -> ExchangeDriver {
        let connection = transport.connection
        let driver = ExchangeDriver(
            transport: transport, runtime: connection.runtimeForNextExchange(), facts: ExchangeFacts(keepAlive: false),
            requestID: requestID.flatMap { RequestID.isValid($0) ? $0 : nil } ?? connection.requestIDs.next(), method: method,
            upgrade: nil, contentType: nil, lines: ByteBuffer())
        if let startedAt { driver.startedAt = startedAt }
        driver.machine.closeAfterResponse()
        transport.exchangeStarted(driver)
        driver.fail(error)
        return driver
    }

    /// Keeps the client's trace, or starts one (``TraceContext``). A started trace drops the
    /// client's `tracestate`: it belonged to a `traceparent` that is not forwarded, and W3C
    /// Trace Context forbids reading one without a valid other.
    private func traceRequest(_ request: inout HTTPRequest) {
        if let value = PolicyRequestFields.value(.traceparent, in: request) {
            if let id = TraceContext.traceID(of: value) {
                traceID = id
                return
            }
            request.headerFields[.traceparent] = nil
        }
        if PolicyRequestFields.value(.tracestate, in: request) != nil { request.headerFields[.tracestate] = nil }
        (startedTraceparent, traceID) = connection.traceIDs.start()
    }

    static func isIdempotent(_ method: HTTPRequest.Method) -> Bool {
        switch method {
        case .get, .head, .options, .put, .delete, .trace: return true
        default: return false
        }
    }

    /// The `Upgrade` value when `head` asks for one on HTTP/1.1 (`Connection: upgrade`).
    static func requestedUpgrade(_ head: ClientRequestHead) -> String? {
        guard head.version == .http1_1, head.connectionUpgrade, let upgrade = head.framing.upgrade, !upgrade.isEmpty else { return nil }
        return upgrade
    }

    // MARK: The request's body, from the transport

    func requestBody(_ buffer: ByteBuffer) {
        perform(machine.requestBody(buffer))
    }

    func requestEnd() {
        perform(machine.requestEnd())
    }

    /// Whether the transport should read more of the request now.
    var readsRequest: Bool {
        machine.readsRequest(upstreamWritable: upstream?.isWritable ?? true)
    }

    /// The request has a body that has not ended, and the exchange is still on.
    var awaitsRequestBody: Bool {
        machine.facts.framing.hasBody && !machine.requestEnded && !machine.isFinished
    }

    /// The server is shutting down: the connection closes after this exchange.
    func quiesce() { machine.closeAfterResponse() }

    /// The client connection or stream is gone: the upstream is let go and the exchange
    /// recorded, if it had not ended.
    /// `timedOut`: the proxy cut a client that took nothing for `client.body_timeout`.
    func clientGone(timedOut: Bool = false) {
        guard let finish = machine.clientGone(timedOut: timedOut) else { return }
        dropUpstream(close: true)
        ended(finish)
    }

    // MARK: Phases 2 and 3: session, authorization

    /// Looks the session up, at once when the store can. The exchange moves on from phase to
    /// phase and is stored once it is complete: each copy costs a retain and a release per field.
    private func resolveSession(request: consuming HTTPRequest, exchange: consuming Exchange) {
        if exchange.credential != nil, exchange.needsLookup { return resolveCredential(request: request, exchange: exchange) }
        guard exchange.needsLookup, let key = exchange.presentedID?.key else {
            return authorize(request: request, exchange: exchange)
        }
        if let immediate = policy.immediateLookup {
            do {
                exchange.session = try immediate.lookupNow(key: key, cache: connection.attributesCache)
            } catch {
                self.exchange = exchange
                return fail(policy.lookupFailed(error, exchange: exchange))
            }
            return authorize(request: request, exchange: exchange)
        }
        self.exchange = exchange
        awaitSession(key: key, request: request, exchange: exchange)
    }

    /// The lookup that completes later: on the event loop (Redis) or off it.
    private func awaitSession(key: SessionKey, request: HTTPRequest, exchange: Exchange) {
        if let looped = runtime.eventLoopLookup {
            looped.lookup(key: key, on: transport.eventLoop, cache: connection.attributesCache).assumeIsolated().whenComplete { result in
                self.sessionResolved(result, request: request, exchange: exchange)
            }
            return
        }
        awaitStore({ policy -> Result<Session?, any Error> in
            do { return .success(try await policy.store.lookup(key: key)) } catch { return .failure(error) }
        }) { driver, result in
            driver.sessionResolved(result, request: request, exchange: exchange)
        }
    }

    private func sessionResolved(_ result: Result<Session?, any Error>, request: HTTPRequest, exchange: Exchange) {
        guard case .admitting = machine.state else { return }
        switch result {
        case .success(let session):
            var exchange = exchange
            exchange.session = session
            authorize(request: request, exchange: exchange)
        case .failure(let error):
            fail(policy.lookupFailed(error, exchange: exchange))
        }
        transport.resumeReading()
    }

    /// Phase 3. The exchange is stored before anything can answer the request (the answer is
    /// recorded from there); a forwarded one by ``forward(request:exchange:)``, moved.
    func authorize(request: consuming HTTPRequest, exchange: consuming Exchange) {
        let authorization = policy.authorize(exchange)
        if case .forward = authorization { return forward(request: request, exchange: exchange) }
        self.exchange = exchange
        switch authorization {
        case .respond(let response):
            answer(response)
        case .logout:
            machine.awaitLocalAnswer()
            let exchange = copy exchange
            awaitStore({ policy in await policy.logout(exchange) }) { driver, response in driver.answer(response) }
        case .forward:
            break  // above
        case .builtinLogin, .backchannelLogout:
            perform(machine.collectLocalBody())
        case .signOn:
            machine.awaitLocalAnswer()
            let exchange = copy exchange
            awaitStore({ policy in await policy.signOnAnswer(exchange) }) { driver, response in driver.answer(response) }
        case .selfService:
            machine.awaitLocalAnswer()
            let exchange = copy exchange
            awaitStore({ policy in await policy.selfService(exchange) }) { driver, response in driver.answer(response) }
        case .forwardWithAccessToken:
            forwardWithAccessToken(request: request, exchange: exchange)
        }
    }

    /// `pass_access_token`: the token (refreshed first when due) is fetched off the event loop,
    /// then the request is forwarded with it, or answered (the session ended, the provider is
    /// unreachable). The machine stays admitting meanwhile, as for an async session lookup.
    private func forwardWithAccessToken(request: consuming HTTPRequest, exchange: consuming Exchange) {
        if case .forward(let token)? = policy.accessTokenNow(for: exchange) {
            exchange.accessToken = token
            return forward(request: request, exchange: exchange)
        }
        let request = copy request, exchange = copy exchange
        awaitStore({ policy in await policy.accessToken(for: exchange) }) { driver, step in
            guard case .admitting = driver.machine.state else { return }
            switch step {
            case .forward(let token):
                var exchange = exchange
                exchange.accessToken = token
                driver.forward(request: request, exchange: exchange)
            case .respond(let response):
                driver.answer(response)
            }
            driver.transport.resumeReading()
        }
    }

    /// Checks the built-in login's body off the event loop (password hashing is slow by design),
    /// or a back-channel logout's.
    func submitLocalBody(_ body: [UInt8]) {
        guard let exchange else { return }
        if exchange.endpoint == .backchannelLogout {
            awaitStore({ policy in await policy.backchannelLogout(body: body, exchange: exchange) }) { driver, response in
                driver.answer(response)
            }
            return
        }
        guard let login = policy.builtinLogin else { return }
        let contentType = self.contentType
        awaitStore({ _ in await login.submit(body: body, contentType: contentType, exchange: exchange) }) { driver, response in
            driver.answer(response)
        }
    }

    /// Runs `work` off the event loop, then `then` back on it unless the exchange has ended.
    /// `work` runs in the exchange's session context (``ProxyPolicy/sessionContext(for:reason:)``):
    /// sessions it creates record this request's origin and obey `max_per_user`, and the ones
    /// it ends are attributed to this request.
    func awaitStore<T: Sendable>(_ work: @escaping @Sendable (ProxyPolicy) async -> T, then: @escaping (ExchangeDriver, T) -> Void) {
        let policy = self.policy
        let eventLoop = transport.eventLoop
        let bound = NIOLoopBound((self, then), eventLoop: eventLoop)
        let context = exchange.map { policy.sessionContext(for: $0) }
        Task {
            let value = await SessionRequestContext.$current.withValue(context) { await work(policy) }
            eventLoop.execute {
                let (driver, then) = bound.value
                guard !driver.machine.isFinished else { return }
                then(driver, value)
            }
        }
    }

    // MARK: Phase 4: the upstream request

    /// `request` is handed over, not shared: the policy edits its fields in place.
    private func forward(request: consuming HTTPRequest, exchange: consuming Exchange) {
        // Phase 4 in two halves: the additions are written straight into the upstream head.
        let filter = policy.stripUpstreamRequest(&request, dropsAuthorization: exchange.dropsAuthorization)
        let additions = policy.upstreamAdditions(for: exchange, authority: request.authority, injectionMemo: connection.injectionMemo)
        let route = exchange.route
        self.exchange = consume exchange
        guard let route else { return fail(ProxyError(.internalError, "no route")) }
        // Moved out, not copied: the upstream request is the lines' only reader from here on.
        let lines = requestLines
        requestLines = ByteBuffer()
        let framing = machine.facts.framing
        if runtime.upstreams.echo.contains(route.upstream) {
            // The echo shows every field the backend would get: the raw lines' too.
            additions.append(to: &request.headerFields)
            HTTP1Head.appendFields(lines: lines, filter: filter, to: &request.headerFields)
            if let field = framing.field { request.headerFields.append(field) }
            if let startedTraceparent { request.headerFields.append(HTTPField(name: .traceparent, value: startedTraceparent)) }
            var echoed = EchoResponder.response(for: request, requestID: requestID, policy: policy)
            // A route's CORS applies to the echo's answers as to an upstream's (found by an audit).
            if let cors = route.cors { cors.replaceUpstreamFields(in: &echoed.head.headerFields, origin: self.exchange?.corsOrigin) }
            return answer(echoed)
        }
        guard let pool = runtime.upstreams.pool(upstream: route.upstream) else {
            return fail(ProxyError(.internalError, "no pool for upstream"))
        }
        self.pool = pool
        upstreamRequest = UpstreamRequest(
            request: request, lines: lines, filter: filter, additions: additions, framing: framing, traceparent: startedTraceparent,
            upgrade: upgrade, isHEAD: machine.facts.isHEAD)
        perform(machine.forward())
    }
}
