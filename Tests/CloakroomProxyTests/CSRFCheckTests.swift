@testable import CloakroomProxy
import HTTPTypes
import Testing

/// SPEC "CSRF rule", on the check itself: which requests count as cross-site.
@Suite struct CSRFCheckTests {
    let check = CSRFCheck(trustedOrigins: ["https://Partner.example"])

    func isCrossSite(authority: String, secure: Bool = false, _ headers: [(String, String)]) -> Bool {
        var request = makeRequest(.post, "/x", headers: headers)
        request.authority = authority
        return check.isCrossSite(request, secure: secure)
    }

    @Test func theRequestsOwnOriginPassesAndAnotherDoesNot() {
        #expect(!isCrossSite(authority: "app.example", [("Origin", "http://app.example")]))
        #expect(!isCrossSite(authority: "App.Example:8080", [("Origin", "http://app.example:8080")]))
        #expect(isCrossSite(authority: "app.example", [("Origin", "http://evil.example")]))
        #expect(isCrossSite(authority: "app.example", [("Origin", "https://app.example")]), "another scheme is another origin")
        #expect(isCrossSite(authority: "app.example", [("Origin", "null")]))
        #expect(!isCrossSite(authority: "app.example", []), "neither header: not a browser's cross-site request")
        #expect(!isCrossSite(authority: "app.example", [("Origin", "https://partner.example")]), "a trusted origin")
        #expect(isCrossSite(authority: "app.example", [("Origin", "http://app.example"), ("Sec-Fetch-Site", "cross-site")]))
        #expect(!isCrossSite(authority: "app.example", [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "same-site")]))
    }

    /// RFC 6454: an origin leaves out its scheme's default port, so `Host: app.example:80` on
    /// plain HTTP (or `:443` on HTTPS) is the origin `http://app.example` a browser sends (found
    /// by a black-box audit: refused as cross-site).
    @Test func aDefaultPortInHostIsTheSameOrigin() {
        #expect(!isCrossSite(authority: "app.example:80", [("Origin", "http://app.example")]))
        #expect(!isCrossSite(authority: "app.example:443", secure: true, [("Origin", "https://app.example")]))
        #expect(isCrossSite(authority: "app.example:443", [("Origin", "http://app.example")]), "443 is not http's default")
        #expect(isCrossSite(authority: "app.example:8080", [("Origin", "http://app.example")]))
    }

    /// Found by an audit: a second `Sec-Fetch-Site: same-origin` hid `cross-site` (the two are
    /// read joined). No browser sends two: they count as cross-site, in either order.
    @Test func twoSecFetchSiteFieldsAreCrossSite() {
        #expect(isCrossSite(authority: "app.example", [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "same-origin")]))
        #expect(isCrossSite(authority: "app.example", [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")]))
        #expect(isCrossSite(authority: "app.example", [("Sec-Fetch-Site", "same-origin, same-origin")]))
        #expect(!isCrossSite(authority: "app.example", [("Sec-Fetch-Site", "Same-Origin")]))
    }
}
