import CloakroomSessions
import Foundation
import HTTPTypes
import Logging

/// The admin API (SPEC "Admin API") as plain Swift: a request in, a response out. The server
/// feeds it whole requests from the admin listener; tests call it directly.
///
/// Every route but `/healthz` needs `Authorization: Bearer <admin.token>`, compared in
/// constant time. Revocations take effect on the very next request because lookups always
/// consult the store.
public struct AdminAPI: Sendable {
    public struct Request: Sendable {
        public var method: HTTPRequest.Method
        /// The request target (path and query).
        public var target: String
        public var authorization: String?
        public var body: [UInt8]
        /// The admin client's address (``ClientAddress``): the `client` of a session it creates.
        public var client: String
        /// The admin client's `User-Agent`: the `user_agent` of a session it creates.
        public var userAgent: String?
        /// The request's ID, in the audit log's lines of the sessions it creates or ends.
        public var requestID: String?

        public init(
            method: HTTPRequest.Method, target: String, authorization: String?, body: [UInt8] = [], client: String = "",
            userAgent: String? = nil, requestID: String? = nil
        ) {
            self.method = method
            self.target = target
            self.authorization = authorization
            self.body = body
            self.client = client
            self.userAgent = userAgent
            self.requestID = requestID
        }
    }

    public struct Response: Sendable, Equatable {
        public var status: HTTPResponse.Status
        /// `nil` for an answer without content (a 204), which carries no `Content-Type`.
        public var contentType: String?
        public var body: String
        /// Every answer but the published keys is `no-store`.
        public var cacheControl = "no-store"
        /// A 405's `Allow` (RFC 9110 §15.5.6): the methods the path answers.
        public var allow: String?

        public init(status: HTTPResponse.Status, contentType: String?, body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// 204: no body, so no `Content-Type` either (RFC 9110 §15.3.5).
        static let noContent = Response(status: .noContent, contentType: nil, body: "")

        static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
            Response(status: status, contentType: "application/json", body: value.jsonText)
        }
        public static func error(_ status: HTTPResponse.Status, _ code: String) -> Response {
            .json(status, .object(["error": .string(code)]))
        }
        /// 405 for a path that answers only `methods`.
        static func methodNotAllowed(allowing methods: String) -> Response {
            var response = error(.methodNotAllowed, "method_not_allowed")
            response.allow = methods
            return response
        }
    }

    /// What `POST /reload` reports.
    public enum ReloadResult: Sendable, Equatable {
        case reloaded
        /// The old configuration keeps serving; each problem names its key.
        case refused([String])
    }

    let store: any SessionStore
    let token: String
    let cookies: SessionCookies
    let metrics: @Sendable () async -> String
    let reload: (@Sendable () async -> ReloadResult)?
    /// The identity assertion's JWKS document, with `identity.assertion`.
    let jwks: [UInt8]?
    let logger: Logger
    /// `session.max_per_user`, applied to sessions `POST /sessions` creates.
    let maxPerUser: Int

    /// The `message` of a 400 `missing_sub`, for `POST /sessions` and `POST /api-keys` alike.
    static let subjectRule = "\"attributes\" must contain a non-empty string \"sub\" without control characters"

    /// - Parameters:
    ///   - metrics: renders the Prometheus text exposition for `/metrics`.
    ///   - reload: re-reads the configuration for `POST /reload`; `nil` when the server has no
    ///     file to re-read (the route then answers 409).
    ///   - jwks: the assertion keys published at ``IdentityAssertion/jwksPath`` without a token;
    ///     `nil` without `identity.assertion` (the path then answers 404, still without a token).
    public init(
        store: any SessionStore, token: String, cookies: SessionCookies, logger: Logger,
        metrics: @escaping @Sendable () async -> String, reload: (@Sendable () async -> ReloadResult)? = nil,
        jwks: [UInt8]? = nil, maxPerUser: Int = 0
    ) {
        self.maxPerUser = maxPerUser
        self.store = store
        self.token = token
        self.cookies = cookies
        self.logger = logger
        self.metrics = metrics
        self.reload = reload
        self.jwks = jwks
    }

    private func reloadConfiguration() async -> Response {
        guard let reload else { return .error(.conflict, "reload_unavailable") }
        switch await reload() {
        case .reloaded:
            return .json(.ok, .object(["status": "reloaded"]))
        case .refused(let problems):
            return .json(.unprocessableContent, .object([
                "error": "invalid_configuration", "problems": .array(problems.map(JSONValue.string)),
            ]))
        }
    }

    /// Answers one request. Sessions it creates or ends are attributed to it (reason `admin`,
    /// its request ID and client) through ``SessionRequestContext``.
    public func handle(_ request: Request) async -> Response {
        let context = SessionRequestContext(
            requestID: request.requestID, origin: SessionOrigin(client: request.client, userAgent: request.userAgent),
            endReason: .admin, maxPerUser: maxPerUser)
        return await context.run { await route(request) }
    }

    private func route(_ request: Request) async -> Response {
        let path = request.target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.target
        // Empty segments are kept: `DELETE /sessions/` (an empty handle) must never read as
        // `DELETE /sessions` (everyone's), nor `/users//sessions` as some user's.
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        // The two routes without a token answer HEAD as GET (the server leaves the body out).
        if segments == ["healthz"] {
            guard request.method == .get || request.method == .head else { return .methodNotAllowed(allowing: "GET, HEAD") }
            return await health()
        }
        if path == IdentityAssertion.jwksPath {
            // Public keys: never behind the token. Without `identity.assertion` there are none.
            guard let jwks else { return .error(.notFound, "not_found") }
            guard request.method == .get || request.method == .head else { return .methodNotAllowed(allowing: "GET, HEAD") }
            var response = Response(status: .ok, contentType: "application/json", body: String(decoding: jwks, as: UTF8.self))
            response.cacheControl = IdentityAssertion.jwksCacheControl
            return response
        }
        guard isAuthorized(request.authorization) else { return .error(.unauthorized, "unauthorized") }
        guard path.hasPrefix("/"), !segments.contains("") else { return .error(.notFound, "not_found") }
        do {
            switch (request.method, segments) {
            case (.get, ["metrics"]):
                return Response(status: .ok, contentType: "text/plain; version=0.0.4", body: await metrics())
            case (.get, ["sessions"]):
                return try await list(subject: Self.userFilter(in: request.target, listing: "GET /sessions"))
            case (.post, ["sessions"]):
                return try await create(body: request.body)
            case (.delete, ["sessions"]):
                // Found by an audit: `DELETE /sessions?user=alice`, copied from the GET, ended
                // everyone's sessions. A query here is refused, not ignored.
                guard !request.target.contains("?") else {
                    throw AdminError(
                        code: "unexpected_query",
                        message: "DELETE /sessions ends every session and takes no query; DELETE /users/{sub}/sessions ends one user's")
                }
                let count = try await store.revokeAll()
                SessionMetrics.sessionsEnded(count, reason: .admin)
                logger.notice("admin revoked every session", metadata: ["count": "\(count)"])
                return .json(.ok, .object(["revoked": .number(Double(count))]))
            case (.delete, let parts) where parts.count == 2 && parts[0] == "sessions":
                let handle = parts[1].removingPercentEncoding ?? parts[1]
                guard try await store.revoke(handle: handle) else { return .error(.notFound, "not_found") }
                SessionMetrics.sessionsEnded(1, reason: .admin)
                logger.notice("admin revoked a session", metadata: ["handle": "\(handle)"])
                return .noContent
            case (.delete, let parts) where parts.count == 3 && parts[0] == "users" && parts[2] == "sessions":
                let subject = parts[1].removingPercentEncoding ?? parts[1]
                let count = try await store.revokeAll(subject: subject)
                SessionMetrics.sessionsEnded(count, reason: .admin)
                // "Log this user out everywhere" ends their API keys too, counted with the sessions.
                let keys = try await keyStore?.revokeKeys(subject: subject) ?? 0
                logger.notice("admin revoked a user's sessions", metadata: ["sub": "\(subject)", "count": "\(count)", "api_keys": "\(keys)"])
                return .json(.ok, .object(["revoked": .number(Double(count + keys))]))
            case (_, let parts) where parts.first == "api-keys":
                return try await routeKeys(request, parts: parts)
            case (.delete, let parts) where parts.count == 3 && parts[0] == "users" && parts[2] == "api-keys":
                return try await revokeKeys(subject: parts[1].removingPercentEncoding ?? parts[1])
            case (.post, ["reload"]):
                return await reloadConfiguration()
            case (_, ["metrics"]):
                return .methodNotAllowed(allowing: "GET")
            case (_, ["sessions"]):
                return .methodNotAllowed(allowing: "GET, POST, DELETE")
            case (_, ["reload"]):
                return .methodNotAllowed(allowing: "POST")
            case (_, let parts) where parts.count == 2 && parts[0] == "sessions",
                (_, let parts) where parts.count == 3 && parts[0] == "users" && (parts[2] == "sessions" || parts[2] == "api-keys"):
                return .methodNotAllowed(allowing: "DELETE")
            default:
                return .error(.notFound, "not_found")
            }
        } catch let error as SessionStoreError where error == .missingSubject {
            // A `sub` present but unusable (a control character in it) too: say which rule.
            return .json(.badRequest, .object(["error": "missing_sub", "message": .string(Self.subjectRule)]))
        } catch let error as AdminError {
            guard let message = error.message else { return .error(.badRequest, error.code) }
            return .json(.badRequest, .object(["error": .string(error.code), "message": .string(message)]))
        } catch {
            logger.error("admin request failed: session store", metadata: ["error": "\(error)"])
            return .error(.serviceUnavailable, "session_store_unavailable")
        }
    }

    /// The answer a request's head alone decides: 401 without a valid token, on every path
    /// but the two public ones. Lets the server refuse before reading a body (found by an
    /// audit: a client without the token could make the admin listener read gigabytes).
    public func refusal(target: String, authorization: String?) -> Response? {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        if path == "/healthz" || path == IdentityAssertion.jwksPath || isAuthorized(authorization) { return nil }
        return .error(.unauthorized, "unauthorized")
    }

    private func isAuthorized(_ header: String?) -> Bool {
        guard let header, let presented = BearerCredentials.token(in: header) else { return false }
        return ConstantTime.equals(String(presented).trimmingCharacters(in: .whitespaces), token)
    }

    private func health() async -> Response {
        do {
            _ = try await store.liveCount()
            return .json(.ok, .object(["status": .string("ok")]))
        } catch {
            logger.error("health check: session store failed", metadata: ["error": "\(error)"])
            return .json(.serviceUnavailable, .object(["status": .string("unavailable")]))
        }
    }

    private func list(subject: String?) async throws -> Response {
        let sessions = try await store.sessions(subject: subject)
        return .json(.ok, .object(["sessions": .array(sessions.map(Self.describe))]))
    }

    private func create(body: [UInt8]) async throws -> Response {
        guard case .object(let request)? = try? JSONValue(parsingUTF8: body),
            case .object(let attributes)? = request["attributes"]
        else { throw AdminError(code: "invalid_body", message: "the body must be a JSON object in UTF-8 with \"attributes\" an object") }
        try Self.refuseUnknownFields(of: request, known: ["attributes"])
        let id = SessionID.random()
        let session = try await store.create(key: id.key, attributes: attributes)
        SessionMetrics.loggedIn()
        logger.notice("admin created a session", metadata: ["handle": "\(session.handle)", "sub": "\(session.subject)"])
        return .json(.created, .object(["handle": .string(session.handle), "cookie": .string(cookies.cookiePair(for: id))]))
    }

    /// A field the call does not take is a 400 naming it, as an unknown key in `proxy.yaml` is
    /// an error: found by an audit, a key asked for with `"tll":"1d"` lived 90 days.
    static func refuseUnknownFields(of request: JSONObject, known: [String]) throws {
        guard let unknown = request.keys.sorted().first(where: { !known.contains($0) }) else { return }
        let expected = known.map { "\"\($0)\"" }.joined(separator: ", ")
        throw AdminError(code: "invalid_body", message: "unknown field \(JSONValue.string(unknown).jsonText) (this call takes \(expected))")
    }

    /// The SPEC's session object.
    public static func describe(_ session: Session) -> JSONValue {
        .object([
            "handle": .string(session.handle),
            "sub": .string(session.subject),
            "attributes": .object(session.attributes),
            "created_at": .string(timestamp(session.createdAt)),
            "last_seen_at": .string(timestamp(session.lastSeenAt)),
            "expires_at": .string(timestamp(session.expiresAt)),
            "client": .string(session.origin.client),
            "user_agent": .string(session.origin.userAgent),
        ])
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}

struct AdminError: Error {
    var code: String
    /// What to fix, for the caller (a CLI prints it).
    var message: String?

    init(code: String, message: String? = nil) {
        self.code = code
        self.message = message
    }
}
