import CloakroomConfig
import CloakroomLogin
import CloakroomSessions
import HTTPTypes
import Logging

/// The request path as a fixed sequence of named phases, compiled once from the configuration.
/// Protocol-neutral: it sees only swift-http-types values, so HTTP/1.1 and HTTP/2 share it.
///
/// The server calls, in order:
/// 1. ``begin(_:client:requestID:cookieMemo:cookie:)`` — validate, normalize the path, route, take the cookie.
/// 2. the store lookup, when ``Exchange/needsLookup`` (synchronously through
///    ``immediateLookup`` when the store offers it).
/// 3. ``authorize(_:)`` — forward, answer locally (401, redirect), or log out.
/// 4. ``prepareUpstreamRequest(_:exchange:)`` — strip, then inject; hop-by-hop and forwarding headers.
/// 5. ``filterResponse(_:exchange:)`` — remove control headers, collect session effects.
/// 6. ``apply(_:exchange:)`` — carry out the effects on the store, yielding `Set-Cookie` values.
public final class ProxyPolicy: Sendable {
    public let configuration: Configuration
    public let store: any SessionStore
    /// The store's synchronous lookup, when it has one.
    public let immediateLookup: (any ImmediateSessionLookup)?
    /// Where API keys live: the session store, which every real store is.
    public let apiKeys: (any APIKeyStore)?
    /// The key store's synchronous lookup, when it has one.
    public let immediateAPIKeys: (any ImmediateAPIKeyLookup)?
    public let routes: RouteTable
    public let identity: IdentityHeaders
    public let cookies: SessionCookies
    /// The built-in login, when `login.users_file` is set.
    public let builtinLogin: BuiltinLogin?
    /// Single sign-on, when `login.oidc` is set (and the server wired a provider in).
    public let signOn: SignOnFlow?
    /// The signed identity token for backends, when `identity.assertion` is set.
    public let assertion: IdentityAssertion?
    let csrf: CSRFCheck
    /// `client.trusted_proxies` and the client-address rule.
    public let clientAddress: ClientAddressRule
    /// Where browsers without a session go: `login.page`, else the built-in login page.
    let loginPage: String?
    let logger: Logger

    public init(
        configuration: Configuration, store: any SessionStore, codec: SessionCookieCodec, logger: Logger,
        builtinLogin: (SessionCookies) -> BuiltinLogin? = { _ in nil },
        signOn: (SessionCookies) -> SignOnFlow? = { _ in nil }, assertion: IdentityAssertion? = nil
    ) {
        self.configuration = configuration
        self.store = store
        self.immediateLookup = store as? any ImmediateSessionLookup
        self.apiKeys = store as? any APIKeyStore
        self.immediateAPIKeys = store as? any ImmediateAPIKeyLookup
        self.routes = RouteTable(configuration.routes)
        self.identity = IdentityHeaders(configuration.identity.strippingAssertionHeader)
        self.cookies = SessionCookies(
            settings: configuration.session.cookie, codec: codec, maxAge: configuration.session.absoluteTimeout)
        self.builtinLogin = builtinLogin(cookies)
        self.signOn = signOn(cookies)
        self.assertion = assertion
        self.csrf = CSRFCheck(trustedOrigins: configuration.session.trustedOrigins)
        self.clientAddress = ClientAddressRule(trustedProxies: configuration.client.trustedProxies)
        let servesLogin = configuration.login.usersFile != nil || self.signOn != nil
        self.loginPage = configuration.login.page ?? (servesLogin ? configuration.login.path : nil)
        self.logger = logger
    }

    static func isUnsafe(_ method: HTTPRequest.Method) -> Bool {
        method != .get && method != .head && method != .options && method != .trace
    }

    // MARK: Phase 1: request filter

    /// Validates the request, normalizes its path, finds its route and takes the session cookie
    /// out of the `Cookie` header, unless the server has taken it already (`cookie`).
    public func begin(
        _ request: inout HTTPRequest, client: ClientInfo, requestID: String, cookieMemo: VerifiedCookieMemo? = nil,
        cookie: PresentedCookie = .inFields
    ) -> Result<Exchange, ProxyError> {
        guard let rawTarget = request.path, let target = RequestPath(target: rawTarget) else {
            return .failure(ProxyError(.badRequest, "request target is not an origin-form path"))
        }
        guard request.authority != nil, !request.headerFields.contains(where: { $0.name.canonicalName == "host" }) else {
            return .failure(ProxyError(.badRequest, "missing or repeated Host"))
        }
        let normalizedTarget = target.target

        var endpoint: Exchange.Endpoint
        if let page = configuration.session.selfService, SelfServiceRequest.isUnder(page, target.path) {
            endpoint = .selfService
        } else if target.path == configuration.logout.path {
            endpoint = .logout
        } else if target.path == configuration.login.path {
            if signOn != nil && (configuration.login.usersFile == nil || RequestPathQuery.value("sso", in: target.target) != nil) {
                endpoint = .signOnStart
            } else {
                endpoint = configuration.login.usersFile == nil ? .login : .builtinLogin
            }
        } else if let signOn, target.path == signOn.callbackPath {
            endpoint = .signOnCallback
        } else if let signOn, target.path == signOn.backchannelLogoutPath {
            endpoint = .backchannelLogout
        } else if assertion != nil, target.path == IdentityAssertion.jwksPath {
            endpoint = .jwks
        } else {
            endpoint = .proxied
        }
        // The host is read only when some route names one (reading the authority builds it). The
        // published keys are the proxy's own answer: no upstream, whatever route the path matches.
        let route =
            endpoint == .jwks || endpoint == .selfService
            ? nil : routes.hasHosts ? routes.match(authority: request.authority, path: target.routingPath) : routes.match(target.routingPath)
        if route == nil && (endpoint == .proxied || endpoint == .login) {
            return .failure(ProxyError(.notFound, "no route for host and path"))
        }
        if endpoint == .proxied, let route, route.path.utf8.count > target.routingPath.utf8.count { endpoint = .directoryRedirect }
        // What the upstream receives: the normalized target, its prefix rewritten for the route.
        if let route, let prefix = route.rewritePrefix {
            request.path = PathRewrite.target(prefix: prefix, routePath: route.path, path: target.path, query: target.query)
        } else if normalizedTarget != rawTarget {
            request.path = normalizedTarget
        }
        // The callback's pending login, read before the proxy's cookies are taken out.
        let pendingLogin = endpoint == .signOnCallback ? signOn?.pendingCookie(in: request.headerFields, target: normalizedTarget) : nil
        let heldPendingSlots = endpoint == .signOnStart ? signOn?.heldPendingSlots(in: request.headerFields) ?? 0 : 0
        var presented: SessionID?
        switch cookie {
        case .inFields: presented = cookies.take(from: &request.headerFields, memo: cookieMemo, owner: ObjectIdentifier(self))
        case .taken(let id): presented = id
        }
        // `credentials`: a machine credential decides alone; a cookie the route does not accept
        // is never looked up (it is still taken out of what is forwarded).
        var credential: PresentedCredential? = nil
        var carriesAPIKey = false, presentsBearer = false
        if endpoint == .proxied, let route {
            if !route.credentials.isCookieOnly {
                credential = Self.presentedCredential(in: request, accepting: route.credentials, memo: cookieMemo)
                if credential == nil, presented != nil, !route.credentials.cookie, route.auth != .none {
                    // A signed session cookie where the route takes machine credentials only:
                    // a kind it does not accept (401 invalid_token), never looked up.
                    credential = .unacceptable
                }
                if credential != nil || !route.credentials.cookie { presented = nil }
            } else if let token = Self.bearerToken(in: request) {
                if APIKeySecret.hasPrefix(token) {
                    // An API key where the route takes none: never forwarded, and on a route that
                    // needs an identity a kind it does not accept, judged alone (401 invalid_token).
                    carriesAPIKey = true
                    if route.auth != .none { (credential, presented) = (.unacceptable, nil) }
                } else {
                    presentsBearer = true
                }
            }
        } else if endpoint == .login, let token = Self.bearerToken(in: request), APIKeySecret.hasPrefix(token) {
            // `login.path` is forwarded too, whatever its route: an API key never reaches a
            // backend there either (found by an audit).
            carriesAPIKey = true
        }
        let accept = PolicyRequestFields.value(.accept, in: request)
        // Read once: each read builds the method again from its pseudo-field.
        let method = request.method
        let client = clientAddress.client(for: client, request: request)
        var exchange = Exchange(
            requestID: requestID, endpoint: endpoint, route: route, presentedID: presented, session: nil,
            method: method, acceptsHTML: accept.map(Self.acceptsHTML) ?? false,
            target: normalizedTarget, client: client)
        exchange.credential = credential
        exchange.carriesAPIKey = carriesAPIKey
        exchange.presentsBearer = presentsBearer
        exchange.passesAccessToken = signOn?.passAccessToken ?? false
        // `networks` and `cors`: a refusal or a preflight is decided here, answered in phase 3.
        // The self-service page has no route of its own, but is behind the networks of the
        // route its path falls under, as the other pages the proxy answers are.
        let pageRoute = endpoint == .selfService
            ? (routes.hasHosts ? routes.match(authority: request.authority, path: target.routingPath) : routes.match(target.routingPath)) : nil
        guard let corsTrusted = applyClientRules(&exchange, request: request, pageRoute: pageRoute) else { return .success(exchange) }
        // Cookie-bearing unsafe requests, and every POST the proxy answers itself (the built-in
        // login's, against login CSRF, the self-service page's, and logout's, with or without a
        // cookie); a route's credentialed CORS origins are trusted origins there.
        let answeredHere = endpoint == .builtinLogin || endpoint == .selfService || endpoint == .logout
        if Self.isUnsafe(method) && (presented != nil || answeredHere)
            && endpoint != .backchannelLogout && !corsTrusted
        {
            exchange.crossSite = csrf.isCrossSite(request, secure: client.isSecure)
        }
        // Recorded with the session the request may create (``SessionOrigin``): only the login
        // endpoints create sessions (a backend's `Session-Login` is honoured on `login.path` alone).
        switch endpoint {
        case .login, .builtinLogin, .signOnCallback: exchange.userAgent = PolicyRequestFields.value(.userAgent, in: request)
        default: break
        }
        (exchange.pendingLoginCookie, exchange.pendingLogin) = (pendingLogin?.name, pendingLogin?.value)
        exchange.heldPendingSlots = heldPendingSlots
        return .success(exchange)
    }

    /// A lookup failure means the identity check cannot be made: never forward.
    public func lookupFailed(_ error: any Error, exchange: Exchange) -> ProxyError {
        logger.error("session store lookup failed", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
        return ProxyError(.storeUnavailable, "\(error)")
    }

    // MARK: Phase 3: authorize

    public func authorize(_ exchange: Exchange) -> Authorization {
        withCORSFields(decide(exchange), exchange: exchange)
    }

    private func decide(_ exchange: Exchange) -> Authorization {
        if exchange.outsideNetworks { return .respond(outsideNetworks(exchange)) }
        if exchange.crossSite {
            return .respond(ProxyError(.csrf).response(requestID: exchange.requestID))
        }
        switch exchange.endpoint {
        case .builtinLogin:
            switch exchange.method {
            case .get, .head: return .respond(builtinLogin?.page(exchange: exchange) ?? ProxyError(.notFound).response(requestID: exchange.requestID))
            case .post: return builtinLogin == nil ? .respond(ProxyError(.notFound).response(requestID: exchange.requestID)) : .builtinLogin
            default: return otherMethodsRefused(exchange, allowing: [.get, .head, .post]) ?? .builtinLogin
            }
        case .logout:
            return otherMethodsRefused(exchange, allowing: [.get, .post]) ?? .logout
        case .login:
            return .forward
        case .signOnStart, .signOnCallback:
            return otherMethodsRefused(exchange, allowing: [.get, .head]) ?? .signOn
        case .backchannelLogout:
            return otherMethodsRefused(exchange, allowing: [.post]) ?? .backchannelLogout
        case .preflight:
            return .respond(exchange.preflightAnswer ?? ProxyError(.forbidden).response(requestID: exchange.requestID))
        case .directoryRedirect:
            return .respond(directoryRedirect(exchange))
        case .jwks:
            guard let assertion else { return .respond(ProxyError(.notFound).response(requestID: exchange.requestID)) }
            return otherMethodsRefused(exchange, allowing: [.get, .head]) ?? .respond(assertion.jwksResponse(requestID: exchange.requestID))
        case .selfService:
            guard exchange.session != nil else { return .respond(unauthenticated(exchange)) }
            return authorizeSelfService(exchange)
        case .proxied:
            if exchange.credential != nil { return authorizeMachineClient(exchange) }
            // Read in place: binding the session would copy it (a retain per field) per request.
            if exchange.session == nil {
                guard exchange.route?.auth == .required else { return .forward }
                return .respond(unauthenticated(exchange))
            }
            // `allow`, on the session just looked up: a role removed a request ago is gone now.
            if let allow = exchange.route?.allow, let attributes = exchange.session?.attributes, !allow.admits(attributes) {
                return .respond(forbidden(exchange))
            }
            if let signOn, signOn.passAccessToken { return .forwardWithAccessToken }
            return .forward
        }
    }

    // MARK: Phase 4: upstream request filter

    /// Rewrites the client's request into the one the backend receives: hop-by-hop fields and
    /// every client copy of identity and forwarding headers removed first, then the session's
    /// identity, `X-Forwarded-*` and `X-Request-Id` set. Returns the rule it removed fields by,
    /// for fields the server carries outside `request` (``PolicyRequestFields``).
    ///
    /// ``stripUpstreamRequest(_:)`` then ``upstreamAdditions(for:authority:injectionMemo:)``,
    /// for a server that writes the additions itself.
    @discardableResult
    public func prepareUpstreamRequest(
        _ request: inout HTTPRequest, exchange: Exchange, injectionMemo: InjectionMemo? = nil
    ) -> RequestFieldFilter {
        let filter = stripUpstreamRequest(&request, dropsAuthorization: exchange.dropsAuthorization)
        upstreamAdditions(for: exchange, authority: request.authority, injectionMemo: injectionMemo)
            .append(to: &request.headerFields)
        return filter
    }

    /// Phase 4's strip: removes every field ``RequestFieldFilter`` drops, and returns the filter.
    public func stripUpstreamRequest(_ request: inout HTTPRequest, dropsAuthorization: Bool = false) -> RequestFieldFilter {
        // Edited in place, removals from the end: when the caller hands over the only copy of
        // the request (the HTTP/1.1 server does), no field is copied and nothing is shifted twice.
        let filter = RequestFieldFilter(
            policy: self, connectionOptions: HopByHop.connectionOptions(in: request.headerFields), dropsAuthorization: dropsAuthorization)
        var index = request.headerFields.endIndex
        while index > request.headerFields.startIndex {
            index -= 1
            if filter.drops(request.headerFields[index].name) {
                request.headerFields.remove(at: index)
            }
        }
        return filter
    }

    /// Phase 4's additions: the session's identity and the forwarding fields, added after the
    /// strip. `authority` is the request's (`X-Forwarded-Host`).
    public func upstreamAdditions(for exchange: Exchange, authority: String?, injectionMemo: InjectionMemo? = nil) -> UpstreamAdditions {
        var identityFields: [HTTPField] = [], identityLines: [UInt8] = []
        if let session = exchange.session {
            if let memo = injectionMemo {
                if memo.owner != ObjectIdentifier(self) || memo.attributes != session.attributes {
                    (memo.owner, memo.attributes) = (ObjectIdentifier(self), session.attributes)
                    memo.fields = identity.fields(for: session.attributes)
                    memo.lines = UpstreamAdditions.lines(memo.fields)
                }
                (identityFields, identityLines) = (memo.fields, memo.lines)
            } else {
                identityFields = identity.fields(for: session.attributes)
                identityLines = UpstreamAdditions.lines(identityFields)
            }
            if let assertion, let upstream = exchange.route?.upstream {
                (identityFields, identityLines) = assertion.upstreamFields(
                    identity: identityFields, lines: identityLines, session: session, upstream: upstream, memo: injectionMemo?.assertion)
            }
        }
        if let token = exchange.accessToken {
            // Per request, never memoized: the token changes on refresh, the attributes do not.
            identityFields.append(HTTPField(name: .authorization, value: "Bearer " + token))
            identityLines = UpstreamAdditions.lines(identityFields)
        }
        return UpstreamAdditions(
            identity: identityFields, identityLines: identityLines, forwardedFor: exchange.client.address, secure: exchange.client.isSecure,
            forwardedHost: authority.flatMap { $0.isEmpty ? nil : $0 }, requestID: exchange.requestID)
    }

    // MARK: Phase 5: response filter

    /// Removes hop-by-hop and control headers (always, whatever the route), sets `X-Request-Id`,
    /// and returns the session effects the control headers ask for. ``ResponseFieldRule`` is
    /// this rule on raw field names, for heads without control headers.
    public func filterResponse(_ response: inout HTTPResponse, exchange: Exchange) -> [SessionEffect] {
        let fields = response.headerFields
        // `Session-Update` field by field: each is a merge patch of its own.
        let login = ControlHeaders.values(of: .sessionLogin, in: fields), updates = ControlHeaders.values(of: .sessionUpdate, in: fields)
        let logout = fields[.sessionLogout]
        HopByHop.remove(from: &response.headerFields)
        if cookies.removeUpstreamCookies(from: &response.headerFields) {
            logger.warning("upstream Set-Cookie for the session cookie removed", metadata: ["request_id": "\(exchange.requestID)"])
        }
        if !login.isEmpty || !updates.isEmpty || logout != nil {
            response.headerFields.removeAll { $0.name == .sessionLogin || $0.name == .sessionUpdate || $0.name == .sessionLogout }
        }
        // Removed, then appended: last, wherever the upstream put its own.
        response.headerFields[.xRequestID] = nil
        response.headerFields.append(HTTPField(name: .xRequestID, value: exchange.requestID))
        if let cors = exchange.route?.cors { cors.replaceUpstreamFields(in: &response.headerFields, origin: exchange.corsOrigin) }
        if login.isEmpty && updates.isEmpty && logout == nil { return [] }
        let effects = ControlHeaders.effects(
            login: login, updates: updates, logout: logout, status: response.status, exchange: exchange, logger: logger)
        if effects.contains(where: \.changesCookie) { Self.forbidStoring(&response.headerFields) }
        return effects
    }

    /// Makes a response that sets or deletes the session cookie uncacheable, replacing any
    /// `Cache-Control` the backend sent: a shared cache must never hand one user's new cookie
    /// (or another's logout) to the next client (ASVS 5.0 14.3.2).
    static func forbidStoring(_ fields: inout HTTPFields) {
        fields[.cacheControl] = "no-store"
    }
}
