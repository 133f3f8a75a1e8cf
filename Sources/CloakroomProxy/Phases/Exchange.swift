import CloakroomConfig
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
        /// `login.path` with `login.oidc` (with `users_file` too: `?sso=1`): starts single sign-on.
        case signOnStart
        /// The path of `login.oidc.redirect_url`: the provider's callback.
        case signOnCallback
        /// `login.oidc.backchannel_logout_path`.
        case backchannelLogout
        /// `session.self_service` and the paths under it: the user's own sessions.
        case selfService
        /// `/.well-known/cloakroom/jwks.json` with `identity.assertion`: the signing keys.
        case jwks
        /// A CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on a
        /// route with `cors`: answered by the proxy, without a session.
        case preflight
        /// The path of a route ending in `/` without that slash (`/admin` for `/admin/`), that
        /// route being the first to match: redirected to the route's path, as nginx and Go's
        /// ServeMux do, so the bare path neither slips to a later route nor skips this one's rules.
        case directoryRedirect
    }

    public var requestID: String
    public var endpoint: Endpoint
    /// `nil` only for the proxy's own endpoints that need no route (`.logout`, `.selfService`).
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
    /// The single sign-on pending-login cookie's value, read in phase 1 for the callback.
    public var pendingLogin: String? = nil
    /// The name of the cookie ``pendingLogin`` came from (``SignOnFlow/pendingCookie(in:target:)``).
    public var pendingLoginCookie: String? = nil
    /// At a login's start: the pending-login slots the browser holds (``SignOnFlow/heldPendingSlots(in:)``).
    public var heldPendingSlots: UInt32 = 0
    /// With `pass_access_token`: the access token the forwarded request carries.
    public var accessToken: String? = nil
    /// `pass_access_token` is on: a request forwarded with a session never carries the
    /// client's own `Authorization`, whether or not the session holds a token (one made by the
    /// admin API, a backend's `Session-Login` or the built-in login holds none).
    public var passesAccessToken = false
    /// The request's `User-Agent`, read only on the endpoints that create sessions (it is
    /// recorded with the session: ``SessionOrigin``).
    public var userAgent: String? = nil
    /// The client address is outside the route's `networks`: 403 before any session lookup.
    public var outsideNetworks: Bool = false
    /// The request's `Origin` when the route's `cors` allows it: every answer carries the
    /// route's CORS fields for it.
    public var corsOrigin: String? = nil
    /// A preflight's answer, decided in phase 1 from the fields it reads.
    public var preflightAnswer: LocalResponse? = nil
    /// `Authorization: Bearer` on a route whose `credentials` accept a bearer kind: the request
    /// is judged by it alone (a cookie it also carries is not looked up).
    public var credential: PresentedCredential? = nil
    /// The presented credential names no live key and no valid token: 401 `invalid_token`.
    public var credentialRefused = false
    /// `Authorization: Bearer ck_…` on a route whose `credentials` do not include `api_key`:
    /// taken out of what is forwarded (an API key is only ever the proxy's to see).
    public var carriesAPIKey = false
    /// Any other `Authorization: Bearer` on a route that accepts the cookie only: forwarded
    /// with a session (the backend's own token), but without one a kind the route does not
    /// accept, refused as such (401 `invalid_token`, never a redirect).
    public var presentsBearer = false

    /// Whether the session phase must consult the store before authorizing.
    public var needsLookup: Bool {
        guard !outsideNetworks else { return false }
        if let credential { return credential != .unacceptable && endpoint == .proxied }
        guard presentedID != nil else { return false }
        switch endpoint {
        case .logout, .login, .builtinLogin, .selfService: return true
        case .signOnStart, .signOnCallback, .backchannelLogout, .jwks, .preflight, .directoryRedirect: return false
        case .proxied: return route?.auth != Route.Auth.none
        }
    }
}

/// A machine client's credential (SPEC "Machine clients"), as phase 1 read it from
/// `Authorization: Bearer`.
public enum PresentedCredential: Sendable, Equatable {
    /// `ck_…`, spelled like an API key, on a route that accepts `api_key`: its store key.
    case apiKey(SessionKey)
    /// Any other token on a route that accepts `bearer`: the identity provider's JWT, to verify.
    case bearer(String)
    /// A kind the route does not accept, or a key not spelled like one: 401, nothing looked up.
    case unacceptable
}

/// The client a request came from: made once per connection from the TCP peer, and per
/// request from what a trusted proxy reports (``ClientAddressRule``).
public struct ClientInfo: Sendable {
    /// The client's IP address as text: access and audit log, throttling, `X-Forwarded-For`.
    public var address: String
    /// `address` parsed (once per connection for the peer); `nil` when it is not an IP
    /// address (a Unix socket, a test's placeholder), which no network range holds.
    public var ip: IPAddress?
    /// Whether the client spoke TLS: to this listener, or to the trusted proxy in front
    /// (`X-Forwarded-Proto`, cookie `secure: auto`, the request's own origin).
    public var isSecure: Bool

    /// An IPv4 peer of a dual-stack listener, which the socket reports as `::ffff:10.1.2.3`,
    /// is named by its IPv4 address (`10.1.2.3`) here, as everywhere else it is judged.
    public init(address: String, isSecure: Bool) {
        let ip = IPAddress(address)
        if let ip, ip.isIPv4, address.utf8.contains(UInt8(ascii: ":")) {
            self.address = ip.description
        } else {
            self.address = address
        }
        self.ip = ip
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
    /// A single sign-on endpoint answered after async work: ``ProxyPolicy/signOnAnswer(_:)``.
    case signOn
    /// The self-service page, for a signed-in user: ``ProxyPolicy/selfService(_:)`` (async: it
    /// lists or ends sessions in the store).
    case selfService
    /// The back-channel logout POST: collect the body (up to ``ProxyPolicy/backchannelMaxBodyBytes``),
    /// then ``ProxyPolicy/backchannelLogout(body:exchange:)``.
    case backchannelLogout
    /// Forward with the session's access token (`pass_access_token`): first
    /// ``ProxyPolicy/accessToken(for:)`` (which may refresh it), then forward or answer.
    case forwardWithAccessToken
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
    /// `Session-Logout: all` on an `auth: none` route, whose session was not looked up: every
    /// session of the user whose session this key is, found when the effect is carried out.
    case logoutAllOfSession(SessionKey)
}

import CloakroomConfig
