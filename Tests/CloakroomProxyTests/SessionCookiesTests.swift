import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

@Suite struct SessionCookiesTests {
    let cookies = SessionCookies(settings: CookieSettings(), codec: testCodec, maxAge: .seconds(12 * 3600))
    let id = SessionID.random()
    var value: String { testCodec.encode(id) }

    func configuredCookies(_ configure: (inout CookieSettings) -> Void, maxAge: Duration = .seconds(3600)) -> SessionCookies {
        var settings = CookieSettings()
        configure(&settings)
        return SessionCookies(settings: settings, codec: testCodec, maxAge: maxAge)
    }

    // MARK: take(from:)

    @Test func findsOursAmongOthersAndKeepsTheRest() {
        var fields = makeFields([("Cookie", "a=1; cloakroom_session=\(value); b=2")])
        #expect(cookies.take(from: &fields) == id)
        #expect(fields[.cookie] == "a=1; b=2")
    }

    @Test func oursFirstOrLast() {
        var first = makeFields([("Cookie", "cloakroom_session=\(value); theme=dark")])
        #expect(cookies.take(from: &first) == id)
        #expect(first[.cookie] == "theme=dark")

        var last = makeFields([("Cookie", "theme=dark;cloakroom_session=\(value)")])
        #expect(cookies.take(from: &last) == id)
        #expect(last[.cookie] == "theme=dark")
    }

    /// `name = value` is no session (no browser writes it), but a lenient backend parser
    /// (Python's `SimpleCookie`) reads it as ours: it is removed all the same (found by an audit).
    @Test func oursWithBlanksAroundTheEqualsSignIsRemovedButNoSession() {
        var alone = makeFields([("Cookie", "cloakroom_session = \(value)")])
        #expect(cookies.take(from: &alone) == nil)
        #expect(alone[.cookie] == nil)
        var among = makeFields([("Cookie", "a=1; cloakroom_session\t=\(value); cloakroom_sessionx=2")])
        #expect(cookies.take(from: &among) == nil)
        #expect(among[.cookie] == "a=1; cloakroom_sessionx=2")
    }

    /// Single sign-on's pending-login cookies are the proxy's too: browsers send them to every
    /// path below the callback's, and a client can send them anywhere (found by an audit).
    @Test func pendingLoginCookiesAreNeverForwarded() {
        var among = makeFields([("Cookie", "a=1; cloakroom_session_oidc_3=sealed; cloakroom_session=\(value); cloakroom_session_oidc=old; cloakroom_session_oidcx=2")])
        #expect(cookies.take(from: &among) == id)
        #expect(among[.cookie] == "a=1; cloakroom_session_oidcx=2")
        var alone = makeFields([("Cookie", "cloakroom_session_oidc_0=sealed")])
        #expect(cookies.take(from: &alone) == nil)
        #expect(alone[.cookie] == nil, "without a session cookie too")
        let prefixed = configuredCookies { $0.name = "__Host-s" }
        var host = makeFields([("Cookie", "__Secure-s_oidc_1=sealed; b=2")])
        #expect(prefixed.take(from: &host) == nil)
        #expect(host[.cookie] == "b=2", "a __Host- cookie's pending logins are __Secure-")
    }

    @Test func removesTheCookieFieldWhenOursWasTheOnlyOne() {
        var fields = makeFields([("Accept", "*/*"), ("Cookie", "cloakroom_session=\(value)")])
        #expect(cookies.take(from: &fields) == id)
        #expect(fields[.cookie] == nil)
        #expect(values("Cookie", in: fields).isEmpty)
        #expect(fields[.accept] == "*/*")
    }

    /// The per-connection memo answers a repeated value as verification did, and never
    /// across owners: a reload's new policy (here, other secrets) verifies afresh.
    @Test func memoAnswersLikeVerificationAndOnlyForItsOwner() {
        final class Owner {}
        let memo = VerifiedCookieMemo()
        let first = Owner(), second = Owner()
        func take(_ cookies: SessionCookies, _ cookie: String, by owner: Owner) -> SessionID? {
            var fields = makeFields([("Cookie", "cloakroom_session=\(cookie)")])
            let found = cookies.take(from: &fields, memo: memo, owner: ObjectIdentifier(owner))
            #expect(fields[.cookie] == nil)
            return found
        }
        #expect(take(cookies, value, by: first) == id)
        #expect(take(cookies, value, by: first) == id, "memoized")
        let forged = SessionCookieCodec(secrets: [TestSecrets.other]).encode(id)
        #expect(take(cookies, forged, by: first) == nil, "another value is verified")
        #expect(take(cookies, forged, by: first) == nil, "and a bad one stays bad")
        #expect(take(cookies, value, by: first) == id)
        #expect(take(cookies, "", by: first) == nil, "an empty value, twice")
        #expect(take(cookies, "", by: first) == nil)

        // The same value for an owner whose secrets no longer include the signing one.
        let rotated = SessionCookies(
            settings: CookieSettings(), codec: SessionCookieCodec(secrets: [TestSecrets.other]), maxAge: .seconds(3600))
        #expect(take(rotated, value, by: second) == nil)
        #expect(take(rotated, forged, by: second) == id)
    }

    @Test func forgedCookieIsIgnoredButStillRemoved() {
        let forged = SessionCookieCodec(secrets: [TestSecrets.other]).encode(id)
        var fields = makeFields([("Cookie", "a=1; cloakroom_session=\(forged)")])
        #expect(cookies.take(from: &fields) == nil)
        #expect(fields[.cookie] == "a=1")
    }

    @Test(arguments: ["", "x", "not-a-session", String(repeating: "A", count: SessionCookieCodec.encodedLength)])
    func malformedCookieIsIgnoredButStillRemoved(bad: String) {
        var fields = makeFields([("Cookie", "cloakroom_session=\(bad); b=2")])
        #expect(cookies.take(from: &fields) == nil)
        #expect(fields[.cookie] == "b=2")
    }

    @Test func unsignedRawIDIsNotAdopted() {
        // The bare ID part of a real cookie, without its signature.
        let bare = String(value.prefix(43))
        var fields = makeFields([("Cookie", "cloakroom_session=\(bare)")])
        #expect(cookies.take(from: &fields) == nil)
        #expect(fields[.cookie] == nil)
    }

    @Test func validCookieAfterAForgedOneIsFound() {
        let forged = SessionCookieCodec(secrets: [TestSecrets.other]).encode(SessionID.random())
        var fields = makeFields([("Cookie", "cloakroom_session=\(forged); x=1; cloakroom_session=\(value)")])
        #expect(cookies.take(from: &fields) == id)
        #expect(fields[.cookie] == "x=1")
    }

    @Test func worksAcrossSeveralCookieFields() {
        // HTTP/2 clients send each cookie as its own `cookie` field ("crumbs").
        var fields = makeFields([
            ("Cookie", "a=1"), ("Accept", "*/*"), ("Cookie", "cloakroom_session=\(value)"), ("Cookie", "b=2; c=3"),
        ])
        #expect(cookies.take(from: &fields) == id)
        #expect(fields[.cookie] == "a=1; b=2; c=3")
        #expect(!(fields[.cookie] ?? "").contains("cloakroom_session"))
        #expect(fields[.accept] == "*/*")
    }

    @Test func leavesFieldsAloneWhenOursIsAbsent() {
        let original = makeFields([("Cookie", "a=1;  b=2"), ("Cookie", "cloakroom_sessionx=3; xcloakroom_session=4")])
        var fields = original
        #expect(cookies.take(from: &fields) == nil)
        #expect(fields == original)
    }

    @Test func similarNamesAreNotOurs() {
        var fields = makeFields([("Cookie", "cloakroom_session_old=1; Cloakroom_Session=2; cloakroom_session=\(value)")])
        #expect(cookies.take(from: &fields) == id)
        #expect(fields[.cookie] == "cloakroom_session_old=1; Cloakroom_Session=2")
    }

    @Test func noCookieHeader() {
        var fields = makeFields([("Accept", "*/*")])
        #expect(cookies.take(from: &fields) == nil)
        #expect(fields.count == 1)
    }

    @Test func customCookieName() {
        let named = configuredCookies { $0.name = "__Host-sid" }
        var fields = makeFields([("Cookie", "cloakroom_session=\(value); __Host-sid=\(value)")])
        #expect(named.take(from: &fields) == id)
        #expect(fields[.cookie] == "cloakroom_session=\(value)")
    }

    @Test func cookiePairRoundTrips() {
        let pair = cookies.cookiePair(for: id)
        #expect(pair == "cloakroom_session=\(value)")
        var fields = makeFields([("Cookie", pair)])
        #expect(cookies.take(from: &fields) == id)
    }

    // MARK: Set-Cookie

    @Test func setCookieDefaults() throws {
        let line = cookies.setCookie(for: id, secureTransport: false)
        #expect(line.hasPrefix("cloakroom_session=\(value);"))
        #expect(testCodec.decode(try #require(cookieValue(ofSetCookie: line))) == id)
        let attributes = cookieAttributes(ofSetCookie: line)
        #expect(attributes.contains("HttpOnly"))
        #expect(attributes.contains("Path=/"))
        #expect(attributes.contains("SameSite=Lax"))
        #expect(attributes.contains("Max-Age=43200"))
        #expect(!attributes.contains("Secure"))
        #expect(!attributes.contains { $0.hasPrefix("Domain=") })
    }

    /// Found by an audit: `absolute_timeout: 999ms` gave `Max-Age=0`, the deletion form. The
    /// cookie's lifetime is rounded up to whole seconds, and is never 0.
    @Test(arguments: [(Duration.milliseconds(999), "Max-Age=1"), (.milliseconds(1_500), "Max-Age=2"), (.seconds(2), "Max-Age=2")])
    func maxAgeIsRoundedUp(absolute: Duration, expected: String) {
        let line = configuredCookies({ _ in }, maxAge: absolute).setCookie(for: id, secureTransport: false)
        #expect(cookieAttributes(ofSetCookie: line).contains(expected), "\(line)")
    }

    @Test func secureAutoFollowsTheTransport() {
        #expect(cookieAttributes(ofSetCookie: cookies.setCookie(for: id, secureTransport: true)).contains("Secure"))
        #expect(!cookieAttributes(ofSetCookie: cookies.setCookie(for: id, secureTransport: false)).contains("Secure"))
    }

    @Test func secureTrueAndFalse() {
        let always = configuredCookies { $0.secure = .always }
        #expect(cookieAttributes(ofSetCookie: always.setCookie(for: id, secureTransport: false)).contains("Secure"))
        #expect(cookieAttributes(ofSetCookie: always.setCookie(for: id, secureTransport: true)).contains("Secure"))
        let never = configuredCookies { $0.secure = .never }
        #expect(!cookieAttributes(ofSetCookie: never.setCookie(for: id, secureTransport: false)).contains("Secure"))
        #expect(!cookieAttributes(ofSetCookie: never.setCookie(for: id, secureTransport: true)).contains("Secure"))
    }

    @Test(arguments: [(CookieSettings.SameSite.strict, "Strict"), (.lax, "Lax"), (CookieSettings.SameSite.none, "None")])
    func sameSite(setting: CookieSettings.SameSite, text: String) {
        let configured = configuredCookies {
            $0.sameSite = setting
            $0.secure = .always
        }
        let attributes = cookieAttributes(ofSetCookie: configured.setCookie(for: id, secureTransport: true))
        #expect(attributes.contains("SameSite=\(text)"))
        #expect(attributes.filter { $0.hasPrefix("SameSite=") }.count == 1)
    }

    @Test func pathDomainAndMaxAge() {
        let configured = configuredCookies(
            {
                $0.path = "/app"
                $0.domain = "example.com"
            }, maxAge: .seconds(90))
        let attributes = cookieAttributes(ofSetCookie: configured.setCookie(for: id, secureTransport: false))
        #expect(attributes.contains("Path=/app"))
        #expect(attributes.contains("Domain=example.com"))
        #expect(attributes.contains("Max-Age=90"))
        #expect(attributes.contains("HttpOnly"))
    }

    @Test func hostPrefixForcesSecureAndOmitsDomain() {
        let host = configuredCookies {
            $0.name = "__Host-session"
            $0.domain = "example.com"
        }
        for secureTransport in [false, true] {
            let line = host.setCookie(for: id, secureTransport: secureTransport)
            #expect(line.hasPrefix("__Host-session="))
            let attributes = cookieAttributes(ofSetCookie: line)
            #expect(attributes.contains("Secure"), "secureTransport: \(secureTransport)")
            #expect(!attributes.contains { $0.hasPrefix("Domain") }, "secureTransport: \(secureTransport)")
            #expect(attributes.contains("Path=/"))
            #expect(attributes.contains("HttpOnly"))
        }
        let expire = cookieAttributes(ofSetCookie: host.expireCookie(secureTransport: false))
        #expect(expire.contains("Secure"))
        #expect(!expire.contains { $0.hasPrefix("Domain") })
    }

    @Test func securePrefixForcesSecure() {
        let prefixed = configuredCookies { $0.name = "__Secure-session" }
        #expect(cookieAttributes(ofSetCookie: prefixed.setCookie(for: id, secureTransport: false)).contains("Secure"))
    }

    /// SPEC: "none requires secure". With `secure: auto` on plain HTTP the cookie went out
    /// without Secure, which browsers drop for SameSite=None.
    @Test func sameSiteNoneForcesSecure() {
        for secure in [CookieSettings.Secure.auto, .always] {
            let configured = configuredCookies {
                $0.sameSite = .none
                $0.secure = secure
            }
            for transport in [false, true] {
                #expect(cookieAttributes(ofSetCookie: configured.setCookie(for: id, secureTransport: transport)).contains("Secure"), "\(secure) \(transport)")
                #expect(cookieAttributes(ofSetCookie: configured.expireCookie(secureTransport: transport)).contains("Secure"), "\(secure) \(transport)")
                #expect(cookieAttributes(ofSetCookie: configured.setCookie(for: id, secureTransport: transport)).contains("SameSite=None"))
            }
        }
    }

    @Test func httpOnlyAlways() {
        for secure in [CookieSettings.Secure.auto, .always, .never] {
            for sameSite in [CookieSettings.SameSite.strict, .lax, CookieSettings.SameSite.none] {
                let configured = configuredCookies {
                    $0.secure = secure
                    $0.sameSite = sameSite
                }
                for transport in [false, true] {
                    #expect(cookieAttributes(ofSetCookie: configured.setCookie(for: id, secureTransport: transport)).contains("HttpOnly"))
                    #expect(cookieAttributes(ofSetCookie: configured.expireCookie(secureTransport: transport)).contains("HttpOnly"))
                }
            }
        }
    }

    @Test func expireCookie() {
        let configured = configuredCookies { $0.domain = "example.com" }
        let line = configured.expireCookie(secureTransport: true)
        #expect(line.hasPrefix("cloakroom_session=;"))
        #expect(cookieValue(ofSetCookie: line) == "")
        let attributes = cookieAttributes(ofSetCookie: line)
        #expect(attributes.contains("Max-Age=0"))
        #expect(attributes.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"))
        // The same scope as the cookie it replaces, or the browser keeps the old one.
        #expect(attributes.contains("Path=/"))
        #expect(attributes.contains("Domain=example.com"))
        #expect(attributes.contains("Secure"))
    }

    // MARK: an upstream's Set-Cookie

    @Test func removesOnlyUpstreamCookiesWithTheSessionCookieName() {
        var fields = makeFields([
            ("Set-Cookie", "cloakroom_session=planted; Path=/"), ("Content-Type", "application/json"),
            ("Set-Cookie", "theme=dark"), ("Set-Cookie", "\tcloakroom_session =x"),
            ("Set-Cookie", "Cloakroom_Session=other-case"), ("Set-Cookie", "cloakroom_session_v2=1"),
        ])
        #expect(cookies.removeUpstreamCookies(from: &fields))
        #expect(values("Set-Cookie", in: fields) == ["theme=dark", "Cloakroom_Session=other-case", "cloakroom_session_v2=1"])
        #expect(fields[.contentType] == "application/json")
        #expect(!cookies.removeUpstreamCookies(from: &fields), "nothing left to remove")
    }

    /// Found by an audit: `=cloakroom_session=x` is a nameless cookie to browsers, stored with
    /// the value `cloakroom_session=x` and sent back as that: a backend could plant a session.
    @Test func aNamelessCookieThatReadsAsTheSessionCookieIsRemovedToo() {
        var fields = makeFields([
            ("Set-Cookie", "=cloakroom_session=planted; Path=/x"), ("Set-Cookie", " = cloakroom_session =y"),
            ("Set-Cookie", "==cloakroom_session=z"), ("Set-Cookie", "=theme=dark"), ("Set-Cookie", "=cloakroom_session"),
            ("Set-Cookie", "a;cloakroom_session=not-a-pair"),
        ])
        #expect(cookies.removeUpstreamCookies(from: &fields))
        #expect(values("Set-Cookie", in: fields) == ["=theme=dark", "=cloakroom_session", "a;cloakroom_session=not-a-pair"])
    }

    @Test func aConfiguredNameIsTheOneGuarded() {
        let named = configuredCookies { $0.name = "__Host-sid" }
        var fields = makeFields([("Set-Cookie", "__Host-sid=a; Secure; Path=/"), ("Set-Cookie", "cloakroom_session=b")])
        #expect(named.removeUpstreamCookies(from: &fields))
        #expect(values("Set-Cookie", in: fields) == ["cloakroom_session=b"])
    }
}
