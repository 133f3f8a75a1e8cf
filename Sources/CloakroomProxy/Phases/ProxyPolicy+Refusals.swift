import CloakroomLogin
import HTTPTypes

/// The proxy's refusals of who the client is: no (valid) session or credential, or one the
/// route's `allow` does not admit.
extension ProxyPolicy {
    /// A required route without a session: 303 to the login page for browsers when there is
    /// one and the route accepts the cookie, else 401 (with `WWW-Authenticate: Bearer` where
    /// the route accepts a machine credential, RFC 6750 §3). A correctly signed cookie whose session is gone (ended, expired, or a
    /// damaged record the store deleted) also gets the deletion cookie, so the client stops
    /// presenting it, as oauth2-proxy clears a session it cannot load.
    /// The longest `next` a redirect to the login page carries, encoded.
    static let longestNext = 4096

    func unauthenticated(_ exchange: Exchange) -> LocalResponse {
        var response: LocalResponse
        let credentials = exchange.route?.credentials
        if exchange.presentsBearer {
            // SPEC: a kind the route does not accept is 401 invalid_token, never a redirect.
            response = invalidCredential(exchange)
        } else if let page = loginPage, exchange.acceptsHTML, exchange.method == .get || exchange.method == .head,
            credentials?.cookie ?? true
        {
            // A target too long to come back through a `Location` (HTTP/2 sends a head in one
            // frame of at most 16 KiB: found by an audit, a cross-site link to a long URL cut a
            // browser's whole connection) is not remembered: the login then lands on `/`.
            let next = Self.percentEncodeQueryValue(exchange.target)
            let separator = page.contains("?") ? "&" : "?"
            let location = next.utf8.count > Self.longestNext ? page : page + separator + "next=" + next
            response = .redirect(to: location, requestID: exchange.requestID)
        } else {
            response = ProxyError(.unauthenticated).response(requestID: exchange.requestID)
            if credentials?.acceptsBearerKind == true {
                response.head.headerFields[.wwwAuthenticate] = "Bearer"
            }
        }
        if exchange.presentedID != nil {
            response.head.headerFields.append(
                HTTPField(name: .setCookie, value: cookies.expireCookie(secureTransport: exchange.client.isSecure)))
        }
        return response
    }

    /// 403 for a session the route's `allow` does not admit: JSON, or a page for browsers.
    /// Nothing about the session is in it.
    func forbidden(_ exchange: Exchange) -> LocalResponse {
        guard exchange.acceptsHTML else { return ProxyError(.forbidden).response(requestID: exchange.requestID) }
        let html = ForbiddenPage.render(logoutPath: configuration.logout.path, requestID: exchange.requestID)
        return .page(status: .forbidden, html: html, contentSecurityPolicy: ForbiddenPage.contentSecurityPolicy, requestID: exchange.requestID)
    }

    /// 401 for a machine credential that names no live key or valid token, or a kind the route
    /// does not accept: never a redirect (a client that sent `Authorization: Bearer` is not a
    /// browser to send to a login page), and no deletion cookie (the cookie was not judged).
    func invalidCredential(_ exchange: Exchange) -> LocalResponse {
        var response = ProxyError(.unauthenticated, "invalid machine credential").response(requestID: exchange.requestID)
        response.head.headerFields[.wwwAuthenticate] = #"Bearer error="invalid_token""#
        return response
    }

    /// `/admin` where the first route to match is `/admin/`: 301 to `/admin/` with the query
    /// (308 for other methods than GET and HEAD, which keeps the method and body), nothing
    /// forwarded and no session looked up.
    func directoryRedirect(_ exchange: Exchange) -> LocalResponse {
        let target = exchange.target
        let query = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[$0...] } ?? ""
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        let status: HTTPResponse.Status = exchange.method == .get || exchange.method == .head ? .movedPermanently : .permanentRedirect
        return .redirect(to: path + "/" + query, status: status, requestID: exchange.requestID)
    }

    /// 405 with `Allow` (RFC 9110 §15.5.6 requires it) unless the request's method is one of
    /// `methods`; `nil` when it is.
    func otherMethodsRefused(_ exchange: Exchange, allowing methods: [HTTPRequest.Method]) -> Authorization? {
        guard !methods.contains(exchange.method) else { return nil }
        return .respond(ProxyError.methodNotAllowed(allowing: methods).response(requestID: exchange.requestID))
    }
}
