/// Rules that relate several keys, checked on the typed configuration once every section has
/// been read.
///
/// `isValid` tells whether a key path was read without problems; a rule involving a key that
/// is already reported stays quiet, so one mistake yields one problem. `storeNamedDurable`: the
/// file says `file` or `redis` for `session.store`, even if that store's settings have problems
/// (its rules depend only on the kind: found by an audit, a store path in a missing directory
/// hid "secrets required").
extension Configuration {
    func crossKeyProblems(
        isValid: (ConfigPath) -> Bool, storeNamedDurable: Bool = false
    ) -> [(path: ConfigPath, message: String)] {
        var problems: [(path: ConfigPath, message: String)] = []
        func report(_ message: String, at path: ConfigPath, ifValid involved: ConfigPath...) {
            guard isValid(path), involved.allSatisfy(isValid) else { return }
            problems.append((path, message))
        }
        checkListeners(report: report)
        checkCookie(report: report)
        checkSession(report: report, durableStore: session.store.isDurable || storeNamedDurable)
        // A route whose host was refused is read as having none: it says nothing about which
        // requests reach the routes after it, so the rules that ask are not told of it.
        let readable = routes.indices.map { isValid(ConfigPath("routes").appending(index: $0).appending("host")) }
        checkEndpoints(report: report, readable: readable)
        checkRoutes(report: report, readable: readable)
        checkAssertion(report: report, durableStore: session.store.isDurable || storeNamedDurable)
        checkUnusedSettings(report: report, readable: readable)
        return problems
    }

    typealias Report = (_ message: String, _ at: ConfigPath, _ ifValid: ConfigPath...) -> Void

    /// Two listeners cannot bind one address, and the admin API never shares a public one.
    /// Port 0 is skipped: each such listener gets its own free port.
    private func checkListeners(report: Report) {
        func addressPath(_ index: Int) -> ConfigPath {
            ConfigPath("listen").appending(index: index).appending("address")
        }
        var bound: [(index: Int, address: SocketAddressSpec)] = []
        for (index, listener) in listeners.enumerated() where listener.address.port != 0 {
            if let earlier = bound.first(where: { $0.address.overlaps(listener.address) }) {
                report("same address as listen[\(earlier.index)]", addressPath(index), addressPath(earlier.index))
            } else {
                bound.append((index, listener.address))
            }
        }
        if let admin, let clash = bound.first(where: { $0.address.overlaps(admin.listen) }) {
            report(
                "must differ from listen[\(clash.index)] (\(clash.address)): the admin API never shares a public listener",
                ConfigPath("admin", "listen"), addressPath(clash.index))
        }
    }

    /// SameSite=None and the `__Host-` / `__Secure-` prefixes only work on Secure cookies. A
    /// cookie `path` must cover the proxy's login and logout paths: a browser sends the cookie
    /// only under its path, so a logout elsewhere could not end the session it never sees
    /// (found by an audit: 204, the cookie deleted, the session alive).
    private func checkCookie(report: Report) {
        let cookie = session.cookie
        // The self-service page too: it lists the sessions of the cookie it is sent (found by
        // an audit: outside the path, every visit was 401).
        let endpoints =
            [(login.path, ConfigPath("login", "path")), (logout.path, ConfigPath("logout", "path"))]
            + (session.selfService.map { [($0, ConfigPath("session", "self_service"))] } ?? [])
        let uncovered = endpoints.filter { !Self.cookiePath(cookie.path, covers: $0.0) }
        if !uncovered.isEmpty, !cookie.name.lowercased().hasPrefix("__host-") {  // that rule says "/" already
            report(
                "must cover " + uncovered.map { "\($0.1) (\($0.0))" }.joined(separator: " and ")
                    + ": a browser sends the cookie only under its path, so the session would not be seen there",
                ConfigPath("session", "cookie", "path"), uncovered.map(\.1)[0])
        }
        let name = ConfigPath("session", "cookie", "name")
        let secure = ConfigPath("session", "cookie", "secure")
        if cookie.sameSite == .none, cookie.secure == .never {
            report(
                "none requires secure to be auto or true (browsers drop SameSite=None cookies without Secure)",
                ConfigPath("session", "cookie", "same_site"), secure)
        }
        let lowercasedName = cookie.name.lowercased()
        if lowercasedName.hasPrefix("__host-") {
            if cookie.secure == .never {
                report("a __Host- cookie must be secure", secure, name)
            }
            if cookie.path != "/" {
                report("a __Host- cookie must have path \"/\"", ConfigPath("session", "cookie", "path"), name)
            }
            if cookie.domain != nil {
                report("a __Host- cookie must not have a domain", ConfigPath("session", "cookie", "domain"), name)
            }
        } else if lowercasedName.hasPrefix("__secure-"), cookie.secure == .never {
            report("a __Secure- cookie must be secure", secure, name)
        }
    }

    /// RFC 6265 §5.1.4 path-match: `path` is `cookiePath` or below it.
    static func cookiePath(_ cookiePath: String, covers path: String) -> Bool {
        guard path.hasPrefix(cookiePath) else { return false }
        return path.count == cookiePath.count || cookiePath.hasSuffix("/") || path.dropFirst(cookiePath.count).hasPrefix("/")
    }

    private func checkSession(report: Report, durableStore: Bool) {
        if session.touchInterval > session.idleTimeout {
            report(
                "must not exceed session.idle_timeout (\(session.idleTimeout.configDescription))",
                ConfigPath("session", "touch_interval"), ConfigPath("session", "idle_timeout"))
        }
        // Without a configured key the server makes one at start, which only the memory store
        // can live with: sessions in a file or Redis would outlive the key that signs them.
        if session.secrets.isEmpty, durableStore {
            report("required with the file and redis stores", ConfigPath("session", "secrets"))
        }
    }

    private func checkEndpoints(report: Report, readable: [Bool]) {
        if login.path == logout.path {
            report("must differ from login.path", ConfigPath("logout", "path"), ConfigPath("login", "path"))
        }
        for (path, key) in [(login.path, ConfigPath("login", "path")), (logout.path, ConfigPath("logout", "path"))]
        where path == AssertionSettings.keysPath {
            report("must differ from \(path), where the proxy publishes the assertion keys", key)
        }
        checkSingleSignOn(report: report)
        checkSelfService(report: report)
        checkLoginPage(report: report, readable: readable)
    }

    /// A `login.page` on this proxy must be reachable without a session: on a route that
    /// requires one, a signed-out browser sent to the page is sent to it again, `next` nesting
    /// on every hop (found by an audit). Judged by the first route without a host that
    /// matches it; the proxy's own endpoints answer before routing.
    private func checkLoginPage(report: Report, readable: [Bool]) {
        guard let page = login.page, page.hasPrefix("/") else { return }
        let path = String(page.prefix { $0 != "?" && $0 != "#" })
        guard path != login.path, path != logout.path else { return }
        let probe = Route(path: path, upstream: "", auth: .none)
        for (index, route) in routes.enumerated() where readable[index] && route.host == nil && route.shadows(probe) {
            if route.auth == .required {
                report(
                    "routes[\(index)] requires a session for this page, so a signed-out browser sent here is sent here "
                        + "again; give the page a route with auth: none or optional before it",
                    ConfigPath("login", "page"), ConfigPath("routes").appending(index: index).appending("auth"),
                    ConfigPath("routes").appending(index: index).appending("path"))
            }
            return
        }
        // No route serves it (found by an audit: every signed-out browser was sent to a 404).
        if readable.allSatisfy({ $0 }), !anyRouteServes(path) {
            report(
                "no route serves \(path): a signed-out browser sent here would get 404; add a route with "
                    + "auth: none or optional for it (or set login.users_file for the built-in page at login.path)",
                ConfigPath("login", "page"))
        }
    }

    /// The self-service page and everything under it is the proxy's: no other endpoint of its
    /// own may sit there.
    private func checkSelfService(report: Report) {
        guard let page = session.selfService else { return }
        let key = ConfigPath("session", "self_service")
        var taken = [(login.path, ConfigPath("login", "path")), (logout.path, ConfigPath("logout", "path"))]
        if let oidc = login.oidc {
            taken.append((oidc.callbackPath, ConfigPath("login", "oidc", "redirect_url")))
            taken.append((oidc.backchannelLogoutPath, ConfigPath("login", "oidc", "backchannel_logout_path")))
        }
        for (path, other) in taken where path == page || path.hasPrefix(page + "/") {
            report("must differ from \(other) and not contain it", key, other)
        }
        // Found by an audit: the self-service page there answered 401 to backends fetching the keys.
        let keys = AssertionSettings.keysPath
        if keys == page || keys.hasPrefix(page + "/") {
            report("must not contain \(keys), where the proxy publishes the assertion keys", key)
        }
    }

    /// The proxy serves the callback and the back-channel logout itself: their paths must not
    /// be taken by another endpoint of its own.
    private func checkSingleSignOn(report: Report) {
        guard let oidc = login.oidc else { return }
        let callback = ConfigPath("login", "oidc", "redirect_url")
        let backchannel = ConfigPath("login", "oidc", "backchannel_logout_path")
        for (taken, path) in [(login.path, ConfigPath("login", "path")), (logout.path, ConfigPath("logout", "path"))] {
            if oidc.callbackPath == taken {
                report("its path must differ from \(path)", callback, path)
            }
            if oidc.backchannelLogoutPath == taken {
                report("must differ from \(path)", backchannel, path)
            }
        }
        if oidc.backchannelLogoutPath == oidc.callbackPath {
            report("must differ from the path of login.oidc.redirect_url", backchannel, callback)
        }
    }

    /// Every route names a defined upstream; a route that an earlier one shadows (a covering
    /// host and a covering path) can never match; `allow` needs a session to judge.
    private func checkRoutes(report: Report, readable: [Bool]) {
        func path(_ index: Int, _ key: String) -> ConfigPath {
            ConfigPath("routes").appending(index: index).appending(key)
        }
        var earlierRoutes = RouteShadowing()
        for (index, route) in routes.enumerated() {
            // A route with a problem (a bad host read as none) says nothing about later ones.
            defer { if readable[index] { earlierRoutes.insert(route, at: index) } }
            if !upstreams.isEmpty, upstreams[route.upstream] == nil {
                report("unknown upstream \(HTTPSyntax.quoted(route.upstream))", path(index, "upstream"))
            }
            if route.allow != nil, route.auth == .none {
                report(
                    "not allowed on an auth: none route (no session is looked up there); use auth: optional or required",
                    path(index, "allow"), path(index, "auth"))
            }
            checkCredentials(route.credentials, at: path(index, "credentials"), auth: path(index, "auth"), route: route, report: report)
            guard let earlier = earlierRoutes.firstShadowing(route) else { continue }
            let other = routes[earlier]
            if other.path == route.path, other.host == route.host {
                report(
                    "routes[\(earlier)] has the same path\(route.host == nil ? "" : " and host"), so this route never matches",
                    path(index, "path"), path(earlier, "path"), path(index, "host"), path(earlier, "host"))
            } else {
                let host = other.host.map { ", host \(HTTPSyntax.quoted($0.description))" } ?? ", any host"
                report(
                    "routes[\(earlier)] (path \(HTTPSyntax.quoted(other.path))\(host)) comes first and matches every "
                        + "request this route would, so this route never matches",
                    path(index, "path"), path(earlier, "path"), path(index, "host"), path(earlier, "host"))
            }
        }
    }
}

extension Configuration {
    /// `bearer` needs the provider and the audience its tokens must name; a machine credential
    /// on an `auth: none` route would never be looked at.
    private func checkCredentials(_ credentials: RouteCredentials, at path: ConfigPath, auth: ConfigPath, route: Route, report: Report) {
        if credentials.bearer {
            if login.oidc == nil {
                report("bearer needs login.oidc (the identity provider whose tokens are accepted)", path)
            } else if login.oidc?.bearerAudience == nil {
                report("bearer needs login.oidc.bearer_audience (the aud its access tokens must contain)", path)
            }
        }
        if credentials.acceptsBearerKind, route.auth == .none {
            report("api_key and bearer need auth: optional or required (no one is signed in on an auth: none route)", path, auth)
        }
    }
}

extension Configuration {
    /// Whether some route, for some host or any, takes requests for `path`.
    func anyRouteServes(_ path: String) -> Bool {
        let probe = Route(path: path, upstream: "", auth: .none)
        return routes.contains { route in
            var anyHost = route
            anyHost.host = nil  // a route for some host serves the path there
            return anyHost.shadows(probe)
        }
    }
}

extension Route {
    /// Whether this route, listed earlier, matches every request `later` would: its host
    /// covers `later`'s (no host covers every host) and its path is a segment-aware prefix of
    /// `later`'s.
    func shadows(_ later: Route) -> Bool {
        guard !path.isEmpty, !later.path.isEmpty else { return false }
        switch (host, later.host) {
        case (nil, _): break
        case (.some, nil): return false
        case (let mine?, let theirs?): guard mine.covers(theirs) else { return false }
        }
        // Segment-aware, and a path ending in `/` matches the path without it as well, so
        // `/api/` and `/api` match the same requests: compare them without that slash.
        let prefix = Self.segments(path), other = Self.segments(later.path)
        guard other.starts(with: prefix) else { return false }
        if other.count == prefix.count || prefix.isEmpty { return true }
        return other[other.index(other.startIndex, offsetBy: prefix.count)] == UInt8(ascii: "/")
    }

    /// A route path without its trailing `/` (`/` itself: empty, matching everything).
    private static func segments(_ path: String) -> Substring.UTF8View {
        (path.hasSuffix("/") ? path.dropLast() : path[...]).utf8
    }
}

extension StoreConfiguration {
    /// Whether sessions outlive the process (file and Redis).
    var isDurable: Bool {
        if case .memory = self { return false }
        return true
    }
}

extension SocketAddressSpec {
    /// Whether binding both would clash: the same port (not 0) on the same host, or on hosts
    /// one of which is a wildcard covering the other (`0.0.0.0` every IPv4 address and name,
    /// `::` everything, as a dual-stack socket does).
    func overlaps(_ other: SocketAddressSpec) -> Bool {
        guard port == other.port, port != 0 else { return false }
        let mine = IPAddress(host), theirs = IPAddress(other.host)
        if let mine, let theirs, mine == theirs { return true }
        if mine == nil, theirs == nil { return host.lowercased() == other.host.lowercased() }
        func coveredByIPv4Wildcard(_ address: IPAddress?) -> Bool { address.map(\.isIPv4) ?? true }
        if mine == IPAddress("::") || theirs == IPAddress("::") { return true }
        if mine == IPAddress("0.0.0.0") { return coveredByIPv4Wildcard(theirs) }
        if theirs == IPAddress("0.0.0.0") { return coveredByIPv4Wildcard(mine) }
        return false
    }
}
