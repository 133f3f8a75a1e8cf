import Testing

@testable import CloakroomConfig

@Suite("HTTP syntax rules")
struct HTTPSyntaxTests {
    @Test func tokensFollowRFC9110() {
        #expect(HTTPSyntax.isToken("X-User-Id"))
        #expect(HTTPSyntax.isToken("__Host-sid"))
        #expect(HTTPSyntax.isToken("a!#$%&'*+-.^_`|~9"))
        for bad in ["", "X User", "X:Y", "a;b", "a=b", "a\"b", "é", "a(b)", "a/b"] {
            #expect(!HTTPSyntax.isToken(bad), "\(bad)")
        }
    }

    @Test func headerPatternsAllowWildcards() {
        #expect(HTTPSyntax.isHeaderPattern("X-User-*"))
        #expect(HTTPSyntax.isHeaderPattern("*"))
        #expect(!HTTPSyntax.isHeaderPattern("X User*"))
        #expect(!HTTPSyntax.isHeaderPattern(""))
    }

    @Test func pathsStartWithSlashAndCarryNoQuery() {
        #expect(HTTPSyntax.checkPath("/api/v1") == nil)
        #expect(HTTPSyntax.checkPath("/") == nil)
        #expect(HTTPSyntax.checkPath("api") != nil)
        #expect(HTTPSyntax.checkPath("/a b") != nil)
        #expect(HTTPSyntax.checkPath("/a?b") != nil)
        #expect(HTTPSyntax.checkPath("/a#b") != nil)
        #expect(HTTPSyntax.checkPath("") != nil)
    }

    @Test func redirectTargetsArePathsOrHTTPURLs() {
        for good in ["/", "/signed-out", "https://sso.example.com/start?x=1", "http://localhost:3000"] {
            #expect(HTTPSyntax.checkRedirectTarget(good) == nil, "\(good)")
        }
        for bad in ["//evil.example", "javascript:alert(1)", "ftp://x", "https://", "signin", "", "/a b"] {
            #expect(HTTPSyntax.checkRedirectTarget(bad) != nil, "\(bad)")
        }
    }

    @Test func quotedValuesAreEscapedAndShortened() {
        #expect(HTTPSyntax.quoted("a\"b") == "\"a\\\"b\"")
        #expect(HTTPSyntax.quoted(String(repeating: "x", count: 100)).count == 63)
    }
}
