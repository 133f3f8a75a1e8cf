import CloakroomLogin
import Testing

@Suite struct RedirectTargetTests {
    @Test(arguments: [
        "/", "/ok?x=1", "/a/b#frag", "/app/", "/a%2Fb", "/search?q=a%20b&next=//x", "/%7Euser", "/a//b", "/.well-known/x",
    ])
    func keepsSameOriginPaths(_ next: String) {
        #expect(RedirectTarget.sanitize(next) == next)
    }

    @Test(arguments: [
        "", "//evil.com", "///evil.com", "https://evil.com", "http:/evil.com", "/\\evil.com", "\\/evil.com",
        "\\\\evil.com", "/a\\b", "javascript:alert(1)", "JavaScript:alert(1)", "evil.com", "ok", "?x=1", "#top",
        "/%5Cevil.com", "/%5cevil.com", "/%2F%2Fevil.com", "/%2fevil.com", "/\t/evil.com", "/\r\nSet-Cookie:x=1",
        "/%0d%0aSet-Cookie:x=1", "/a%00b", "/ space", "/caf\u{E9}", "/\u{7F}", " /leading-space",
    ])
    func refusesEverythingElse(_ next: String) {
        #expect(RedirectTarget.sanitize(next) == "/")
    }

    @Test func absentOrTooLongFallsBack() {
        #expect(RedirectTarget.sanitize(nil) == "/")
        #expect(RedirectTarget.sanitize("/" + String(repeating: "a", count: 2048)) == "/")
        let justFits = "/" + String(repeating: "a", count: 2047)
        #expect(RedirectTarget.sanitize(justFits) == justFits)
    }
}
