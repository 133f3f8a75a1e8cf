import CloakroomSessions
import HTTPTypes

/// What the phases learn about one request and pass to the next phase.
public struct Exchange: Sendable {
    public enum Endpoint: Sendable, Equatable {
        /// An ordinary proxied request.
        case proxied
        /// `login.path`: forwarded, reachable without a session; honours `Session-Login`.
        case login
        /// `logout.path`: answered by the proxy.
        case logout
        /// `login.path` with `login.users_file`: the built-in login, answered by the proxy.
        case builtinLogin
    }

    public var requestID: String
    public var endpoint: Endpoint
    /// `nil` only for `.logout`.
    public var route: RouteTable.Entry?
    /// The correctly signed session ID the client presented, if any.
    public var presentedID: SessionID?
    /// The live session, once looked up.
    public var session: Session?
    public var method: HTTPRequest.Method
    public var acceptsHTML: Bool
    /// The request target as forwarded (normalized path plus query).
    public var target: String
    /// Whether the request failed the CSRF check (decided in phase 1, answered in phase 3).
    public var crossSite: Bool = false
    public var client: ClientInfo

    /// Whether the session phase must consult the store before authorizing.
    public var needsLookup: Bool {
        guard presentedID != nil else { return false }
        switch endpoint {
        case .logout, .login, .builtinLogin: return true
        case .proxied: return route?.auth != Route.Auth.none
        }
    }
}

/// The downstream connection a request arrived on.
public struct ClientInfo: Sendable {
    /// The peer's IP address as text, for `X-Forwarded-For`.
    public var address: String
    /// Whether the listener terminates TLS (`X-Forwarded-Proto`, cookie `secure: auto`).
    public var isSecure: Bool

    public init(address: String, isSecure: Bool) {
        self.address = address
        self.isSecure = isSecure
    }
}

/// What to do with a request once its session is known.
public enum Authorization: Sendable {
    /// Forward upstream (after ``ProxyPolicy/prepareUpstreamRequest(_:exchange:)``).
    case forward
    /// Answer locally without contacting the upstream.
    case respond(LocalResponse)
    /// The logout endpoint: end the presented session (if any), then answer.
    case logout
    /// The built-in login's POST: collect the body (up to ``BuiltinLogin/maxBodyBytes``), then
    /// call ``BuiltinLogin/submit(body:contentType:exchange:)``.
    case builtinLogin
}

/// A change to session state requested by a backend's control header.
public enum SessionEffect: Sendable, Equatable {
    /// `Session-Login`: create a session with these attributes, ending `replacing` if set.
    case login(JSONObject, replacing: SessionKey?)
    /// `Session-Update`: merge-patch the current session.
    case update(SessionKey, patch: JSONValue)
    /// `Session-Logout: current`.
    case logoutCurrent(SessionKey)
    /// `Session-Logout: all`: every session of this user.
    case logoutAll(subject: String)
}

import CloakroomConfig
