import HTTPTypes

/// Why an exchange could not be served normally, and whose fault it was.
///
/// Every failure on the request path is one of these; ``ProxyError/status`` is the one place
/// that maps a failure to an HTTP status, and ``ProxyError/code`` is the short label used in the
/// JSON error body, logs and metrics.
public struct ProxyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Source: String, Sendable { case client, upstream, store, `internal` }

    public enum Code: String, Sendable {
        case badRequest = "bad_request"
        case headerTimeout = "request_timeout"
        case headersTooLarge = "headers_too_large"
        case bodyTooLarge = "body_too_large"
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case unauthenticated
        case csrf
        /// A session that the route's `allow` does not admit.
        case forbidden
        case tooManyAttempts = "too_many_attempts"
        case upstreamUnavailable = "bad_gateway"
        case upstreamTimeout = "gateway_timeout"
        case storeUnavailable = "session_store_unavailable"
        case internalError = "internal_error"
        /// Single sign-on: the identity provider could not be reached (502).
        case identityProviderUnavailable = "identity_provider_unavailable"
        /// Single sign-on: the provider or the proxy refused the login (401).
        case loginFailed = "login_failed"
    }

    public var code: Code
    /// Free text for logs only; never sent to clients.
    public var detail: String

    /// For 405: the methods the resource answers, sent as `Allow`.
    public var allowedMethods: [HTTPRequest.Method] = []

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// 405 for a resource that answers only `methods`.
    public static func methodNotAllowed(allowing methods: [HTTPRequest.Method]) -> ProxyError {
        var error = ProxyError(.methodNotAllowed)
        error.allowedMethods = methods
        return error
    }

    public var source: Source {
        switch code {
        case .badRequest, .headerTimeout, .headersTooLarge, .bodyTooLarge, .notFound, .methodNotAllowed,
            .unauthenticated, .csrf, .forbidden, .tooManyAttempts, .loginFailed:
            return .client
        case .upstreamUnavailable, .upstreamTimeout, .identityProviderUnavailable: return .upstream
        case .storeUnavailable: return .store
        case .internalError: return .internal
        }
    }

    /// The status sent to the client. The single mapping from failure to status.
    public var status: HTTPResponse.Status {
        switch code {
        case .badRequest: return .badRequest
        case .headerTimeout: return .requestTimeout
        case .headersTooLarge: return .init(code: 431, reasonPhrase: "Request Header Fields Too Large")
        case .bodyTooLarge: return .contentTooLarge
        case .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .unauthenticated, .loginFailed: return .unauthorized
        case .identityProviderUnavailable: return .badGateway
        case .csrf, .forbidden: return .forbidden
        case .tooManyAttempts: return .tooManyRequests
        case .upstreamUnavailable: return .badGateway
        case .upstreamTimeout: return .gatewayTimeout
        case .storeUnavailable: return .serviceUnavailable
        case .internalError: return .internalServerError
        }
    }

    /// Whether the client connection must close after the error response: the request stream
    /// can no longer be trusted to be in sync.
    public var closesConnection: Bool {
        switch code {
        case .badRequest, .headerTimeout, .headersTooLarge, .bodyTooLarge: return true
        default: return false
        }
    }

    public var description: String { detail.isEmpty ? "\(source.rawValue) \(code.rawValue)" : "\(source.rawValue) \(code.rawValue): \(detail)" }

    /// The JSON error response: `{"error":"<code>"}` with `X-Request-Id`. Never carries detail.
    public func response(requestID: String) -> LocalResponse {
        var response = LocalResponse.json(status: status, body: "{\"error\":\"\(code.rawValue)\"}", requestID: requestID)
        response.failure = code
        if !allowedMethods.isEmpty { response.head.headerFields[.allow] = allowedMethods.map(\.rawValue).joined(separator: ", ") }
        return response
    }
}

/// A response the proxy answers itself (errors, logout, redirects to login).
public struct LocalResponse: Sendable {
    public var head: HTTPResponse
    public var body: [UInt8]
    /// Close the client connection after sending.
    public var close: Bool
    /// The failure this answers, for the access log's and the metrics' outcome (a store or a
    /// provider that failed is an `error` or `upstream_failed` however the answer is worded).
    public var failure: ProxyError.Code?

    public init(head: HTTPResponse, body: [UInt8], close: Bool = false) {
        self.head = head
        self.body = body
        self.close = close
    }

    public static func json(status: HTTPResponse.Status, body: String, requestID: String) -> LocalResponse {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        fields[.xRequestID] = requestID
        return LocalResponse(head: HTTPResponse(status: status, headerFields: fields), body: Array(body.utf8))
    }

    /// A page the proxy renders itself: HTML, never stored, never framed, and loading nothing
    /// but what `contentSecurityPolicy` (the page's own) allows.
    static func page(status: HTTPResponse.Status = .ok, html: String, contentSecurityPolicy: String, requestID: String) -> LocalResponse {
        var fields = HTTPFields()
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.cacheControl] = "no-store"
        fields[.xRequestID] = requestID
        fields[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        fields[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return LocalResponse(head: HTTPResponse(status: status, headerFields: fields), body: Array(html.utf8))
    }

    public static func redirect(to location: String, status: HTTPResponse.Status = .seeOther, requestID: String) -> LocalResponse {
        var fields = HTTPFields()
        fields[.location] = location
        fields[.cacheControl] = "no-store"
        fields[.xRequestID] = requestID
        return LocalResponse(head: HTTPResponse(status: status, headerFields: fields), body: [])
    }

    public static func empty(status: HTTPResponse.Status, requestID: String) -> LocalResponse {
        var fields = HTTPFields()
        fields[.cacheControl] = "no-store"
        fields[.xRequestID] = requestID
        return LocalResponse(head: HTTPResponse(status: status, headerFields: fields), body: [])
    }
}

extension HTTPField.Name {
    public static let xRequestID = HTTPField.Name("X-Request-Id")!
    public static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    public static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    public static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
    public static let forwarded = HTTPField.Name("Forwarded")!
    public static let sessionLogin = HTTPField.Name("Session-Login")!
    public static let sessionUpdate = HTTPField.Name("Session-Update")!
    public static let sessionLogout = HTTPField.Name("Session-Logout")!
    public static let keepAlive = HTTPField.Name("Keep-Alive")!
    public static let proxyConnection = HTTPField.Name("Proxy-Connection")!
    public static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    public static let origin = HTTPField.Name("Origin")!
}
