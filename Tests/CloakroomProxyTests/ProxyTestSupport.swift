import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Foundation
import HTTPTypes
import Logging
import Testing

// Shared fixtures for the policy tests: a configuration built in code, a real
// `MemorySessionStore` on a `ManualWallClock`, and helpers that drive the phases the way the
// server does (begin → lookup → authorize → prepare → filter → apply).

enum TestSecrets {
    static let primary = Array("cloakroom-proxy-tests-secret-0123456789".utf8)
    static let other = Array("a-different-secret-nobody-trusts-000".utf8)
}

let testCodec = SessionCookieCodec(secrets: [TestSecrets.primary])

/// A logger that drops everything, so expected warnings do not clutter test output.
let silentLogger = Logger(label: "cloakroom.proxy.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// A configuration with the spec's defaults and the given routes.
func makeConfiguration(
    routes: [Route] = [
        Route(path: "/public/", upstream: "api", auth: .none),
        Route(path: "/", upstream: "api", auth: .required),
    ],
    cookie: CookieSettings = .init(),
    identity: IdentitySettings = .init(),
    login: LoginSettings = .init(),
    logout: LogoutSettings = .init()
) -> Configuration {
    var session = SessionSettings()
    session.cookie = cookie
    session.secrets = [String(decoding: TestSecrets.primary, as: UTF8.self)]
    return Configuration(
        listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))],
        session: session, identity: identity, login: login, logout: logout,
        routes: routes, upstreams: ["api": Upstream(kind: .echo)])
}

/// A policy over a real memory store whose clock only moves when a test says so.
struct PolicyFixture {
    let policy: ProxyPolicy
    let store: MemorySessionStore
    let clock: ManualWallClock

    init(
        _ configuration: Configuration = makeConfiguration(),
        signOn: ((SessionCookies, MemorySessionStore, ManualWallClock) -> SignOnFlow?)? = nil
    ) {
        clock = ManualWallClock()
        store = MemorySessionStore(
            maxSessions: 1000,
            timeouts: SessionTimeouts(
                idle: configuration.session.idleTimeout, absolute: configuration.session.absoluteTimeout,
                touchInterval: configuration.session.touchInterval),
            clock: clock)
        let (store, clock) = (store, clock)
        policy = ProxyPolicy(
            configuration: configuration, store: store, codec: testCodec, logger: silentLogger,
            signOn: { cookies in signOn?(cookies, store, clock) })
    }

    /// Creates a session directly in the store; returns its ID and the `Cookie` pair a client
    /// would send back for it.
    func login(_ attributes: JSONObject) async throws -> (id: SessionID, cookie: String) {
        let id = SessionID.random()
        _ = try await store.create(key: id.key, attributes: attributes)
        return (id, policy.cookies.cookiePair(for: id))
    }

    /// Phase 1, expecting success.
    func begin(
        _ request: inout HTTPRequest, client: ClientInfo = plainClient, requestID: String = "req-1",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Exchange {
        switch policy.begin(&request, client: client, requestID: requestID) {
        case .success(let exchange): return exchange
        case .failure(let error):
            Issue.record("begin failed: \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// Phases 1 and 2: begin, then the store lookup when the exchange needs one.
    func beginAndLookUp(
        _ request: inout HTTPRequest, client: ClientInfo = plainClient, requestID: String = "req-1",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Exchange {
        var exchange = try begin(&request, client: client, requestID: requestID, sourceLocation: sourceLocation)
        if exchange.needsLookup, let key = exchange.presentedID?.key {
            exchange.session = try await store.lookup(key: key)
        }
        return exchange
    }

    /// Phase 1, expecting a failure; returns it.
    func beginFailure(_ request: HTTPRequest, sourceLocation: SourceLocation = #_sourceLocation) -> ProxyError? {
        var request = request
        switch policy.begin(&request, client: plainClient, requestID: "req-1") {
        case .success:
            Issue.record("begin succeeded, expected a failure", sourceLocation: sourceLocation)
            return nil
        case .failure(let error): return error
        }
    }
}

let plainClient = ClientInfo(address: "192.0.2.10", isSecure: false)
let tlsClient = ClientInfo(address: "192.0.2.10", isSecure: true)

/// A request as the HTTP/1 conversion would produce it: `Host` already moved to the authority.
func makeRequest(
    _ method: HTTPRequest.Method = .get, _ path: String?, authority: String? = "proxy.example",
    headers: [(String, String)] = []
) -> HTTPRequest {
    var fields = HTTPFields()
    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return HTTPRequest(method: method, scheme: "http", authority: authority, path: path, headerFields: fields)
}

/// A response with the given header lines.
func makeResponse(_ status: HTTPResponse.Status = .ok, headers: [(String, String)] = []) -> HTTPResponse {
    var fields = HTTPFields()
    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return HTTPResponse(status: status, headerFields: fields)
}

func makeFields(_ pairs: [(String, String)]) -> HTTPFields {
    var fields = HTTPFields()
    for (name, value) in pairs { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return fields
}

/// Every value of `name` in `fields`, in order.
func values(_ name: String, in fields: HTTPFields) -> [String] {
    fields[values: HTTPField.Name(name)!]
}

/// The cookie value in a `Set-Cookie` line (between the first `=` and the first `;`).
func cookieValue(ofSetCookie line: String) -> Substring? {
    guard let eq = line.firstIndex(of: "=") else { return nil }
    let rest = line[line.index(after: eq)...]
    return rest.prefix(while: { $0 != ";" })
}

/// The `; `-separated attributes of a `Set-Cookie` line, after `name=value`.
func cookieAttributes(ofSetCookie line: String) -> [String] {
    line.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
}

/// A body as UTF-8 text parsed to JSON.
func json(_ body: [UInt8]) throws -> JSONValue {
    try JSONValue(parsing: String(decoding: body, as: UTF8.self))
}

/// A store that fails every call as an unreachable backing store would.
struct UnavailableStore: SessionStore {
    func fail() -> SessionStoreError { .unavailable("test store is down") }
    func create(key: SessionKey, attributes: JSONObject) async throws -> Session { throw fail() }
    func lookup(key: SessionKey) async throws -> Session? { throw fail() }
    func liveKeys(among keys: [SessionKey]) async throws -> Set<SessionKey> { throw fail() }
    func update(key: SessionKey, patch: JSONValue) async throws -> Session? { throw fail() }
    func revoke(key: SessionKey) async throws -> Bool { throw fail() }
    func revoke(handle: String) async throws -> Bool { throw fail() }
    func revokeAll(subject: String) async throws -> Int { throw fail() }
    func revokeAll() async throws -> Int { throw fail() }
    func sessions(subject: String?) async throws -> [Session] { throw fail() }
    func sweep() async throws -> Int { throw fail() }
    func liveCount() async throws -> Int { throw fail() }
    func updateTimeouts(_ timeouts: SessionTimeouts) {}
    func close() async throws {}
}

extension UnavailableStore: ProviderSessionStore {
    func create(key: SessionKey, attributes: JSONObject, secrets: JSONObject, links: [String]) async throws -> Session { throw fail() }
    func secrets(key: SessionKey) async throws -> JSONObject? { throw fail() }
    func replaceSecrets(key: SessionKey, with secrets: JSONObject) async throws -> Bool { throw fail() }
    func revokeAll(link: String) async throws -> Int { throw fail() }
    func firstUse(of token: String, until: Date) async throws -> Bool { throw fail() }
    func leaseRefresh(key: SessionKey, for lifetime: Duration) async throws -> RefreshLease? { throw fail() }
    func releaseRefresh(_ lease: RefreshLease) async throws { throw fail() }
}
