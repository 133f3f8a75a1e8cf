import HTTPTypes

/// The route rules about who the client is and where its page came from: `routes[].networks`
/// (judged on the client address ``ClientAddressRule`` derived) and `routes[].cors`.
extension ProxyPolicy {
    /// Phase 1's part: marks a client outside the route's `networks` (403 in phase 3, no
    /// session looked up), turns a CORS preflight into the proxy's own answer, and notes an
    /// allowed `Origin` for the response fields. Returns `nil` when the exchange is decided
    /// (refused or a preflight), else whether the origin is a trusted origin for the CSRF rule
    /// on this route (listed with `allow_credentials`).
    ///
    /// The pages the proxy answers itself under a route's path (the built-in login, logout,
    /// single sign-on's start and callback, the self-service page: `pageRoute`) are behind its
    /// `networks` too, as a backend's login is; CORS is not theirs. Found by an audit: a client
    /// a route's networks refused could still guess passwords at the built-in login and sign in.
    /// A back-channel logout (a provider's server, its token signed) and the published keys are not.
    func applyClientRules(_ exchange: inout Exchange, request: HTTPRequest, pageRoute: RouteTable.Entry? = nil) -> Bool? {
        switch exchange.endpoint {
        case .builtinLogin, .logout, .signOnStart, .signOnCallback, .selfService:
            if let route = exchange.route ?? pageRoute, !route.admits(exchange.client) {
                exchange.outsideNetworks = true
                return nil
            }
            return false
        default:
            break
        }
        guard let route = exchange.route, exchange.endpoint == .proxied || exchange.endpoint == .login else { return false }
        let cors = route.cors
        let origin = cors == nil ? nil : PolicyRequestFields.value(.origin, in: request)
        let requestedMethod =
            exchange.method == .options && origin != nil ? PolicyRequestFields.value(.accessControlRequestMethod, in: request) : nil
        if let cors, let origin, requestedMethod == nil, cors.allows(origin: origin) {
            // Every answer to an allowed origin carries the route's fields, refusals included
            // (a preflight's answer has its own, and a refused one none).
            exchange.corsOrigin = origin
        }
        if !route.admits(exchange.client) {
            exchange.outsideNetworks = true
            return nil
        }
        guard let cors else { return false }
        if let requested = requestedMethod {
            exchange.endpoint = .preflight
            exchange.preflightAnswer = cors.preflight(
                origin: origin, method: requested,
                requestHeaders: PolicyRequestFields.values(.accessControlRequestHeaders, in: request.headerFields),
                requestID: exchange.requestID)
            return nil
        }
        guard let origin = exchange.corsOrigin else { return false }
        return cors.trustsForCSRF(origin: origin)
    }

    /// 403 for a client address outside the route's `networks`.
    func outsideNetworks(_ exchange: Exchange) -> LocalResponse {
        ProxyError(.forbidden, "client address outside the route's networks").response(requestID: exchange.requestID)
    }

    /// The proxy's own answers to an allowed origin carry the route's CORS fields too, so the
    /// page can read its 401 or 403 (a preflight's answer has its own).
    func withCORSFields(_ authorization: Authorization, exchange: Exchange) -> Authorization {
        guard exchange.route?.cors != nil, case .respond(var response) = authorization else { return authorization }
        exchange.addCORSFields(to: &response.head.headerFields)
        return .respond(response)
    }
}

extension Exchange {
    /// The route's CORS fields for an allowed `Origin`, on an answer of the proxy's own that
    /// does not pass the policy (a 502, a 504, a 413): a page can read every refusal. On a
    /// route with `cors`, every such answer varies with `Origin`, as the backend's do (found by
    /// an audit: a 401 to an origin not listed had no `Vary`).
    public func addCORSFields(to fields: inout HTTPFields) {
        guard let cors = route?.cors else { return }
        if let corsOrigin {
            cors.apply(to: &fields, origin: corsOrigin)
        } else {
            CORSPolicy.addVaryOrigin(to: &fields)
        }
    }
}
