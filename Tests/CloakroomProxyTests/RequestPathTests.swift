import CloakroomProxy
import Testing

@Suite struct RequestPathTests {
    @Test func splitsTheQuery() throws {
        let target = try #require(RequestPath(target: "/a/b?x=1&y=/../z"))
        #expect(target.path == "/a/b")
        #expect(target.query == "x=1&y=/../z")
        #expect(target.target == "/a/b?x=1&y=/../z")
    }

    @Test func noQueryIsNilButEmptyQueryIsKept() throws {
        let plain = try #require(RequestPath(target: "/a"))
        #expect(plain.query == nil)
        #expect(plain.target == "/a")
        let empty = try #require(RequestPath(target: "/a?"))
        #expect(empty.path == "/a")
        #expect(empty.query == "")
        #expect(empty.target == "/a?")
    }

    @Test func onlyTheFirstQuestionMarkSplits() throws {
        let target = try #require(RequestPath(target: "/p?a?b"))
        #expect(target.path == "/p")
        #expect(target.query == "a?b")
    }

    @Test(arguments: [
        ("//a///b", "/a/b"),
        ("//", "/"),
        ("/a//", "/a/"),
        ("/a/./b", "/a/b"),
        ("/./a", "/a"),
        ("/a/.", "/a/"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/..", "/a/"),
        ("/a/..", "/"),
        ("/a/b/../../c", "/c"),
        ("/a/%2e%2e/c", "/c"),
        ("/a/%2E%2E/c", "/c"),
        ("/a/%2e/b", "/a/b"),
        ("/a/%2E/b", "/a/b"),
        ("/a/.%2e/c", "/c"),
        ("/a/%2e./c", "/c"),
        ("/a//./b/", "/a/b/"),
    ])
    func normalizes(raw: String, expected: String) throws {
        let target = try #require(RequestPath(target: raw), "\(raw)")
        #expect(target.path == expected[...], "\(raw)")
        #expect(target.query == nil)
    }

    @Test func normalizesPathButNotQuery() throws {
        let target = try #require(RequestPath(target: "//a/./b/../c?next=//x/../y"))
        #expect(target.path == "/a/c")
        #expect(target.query == "next=//x/../y")
        #expect(target.target == "/a/c?next=//x/../y")
    }

    @Test(arguments: ["/..", "/../x", "/a/../../x", "/%2e%2e/x", "/%2E%2E", "/a/%2e%2e/%2e%2e/x", "//../x", "/./../x"])
    func rejectsClimbingAboveTheRoot(raw: String) {
        #expect(RequestPath(target: raw) == nil, "\(raw)")
    }

    @Test(arguments: ["", "*", "a/b", "http://example.com/a", "https://example.com", "?q", "example.com:443", " /a"])
    func rejectsTargetsNotInOriginForm(raw: String) {
        #expect(RequestPath(target: raw) == nil, "\(raw)")
    }

    @Test(arguments: ["/", "/a", "/a/b/c", "/api/v1/users/42", "/a.b/c..d/e.", "/a/b/", "/caf%C3%A9"])
    func fastPathLeavesOrdinaryPathsUntouched(raw: String) throws {
        let target = try #require(RequestPath(target: raw), "\(raw)")
        #expect(target.path == raw[...], "\(raw)")
        #expect(target.target == raw, "\(raw)")
    }

    @Test func dotsInsideSegmentsAreNotDotSegments() throws {
        #expect(RequestPath(target: "/a/..b/c")?.path == "/a/..b/c")
        #expect(RequestPath(target: "/a/.well-known/x")?.path == "/a/.well-known/x")
        // Escaped unreserved characters are decoded (RFC 3986 §6.2.2.2) but stay inside their segment.
        #expect(RequestPath(target: "/a/%2e%2ex/c")?.path == "/a/..x/c")
        #expect(RequestPath(target: "/v1.2/%2ejson")?.path == "/v1.2/.json")
    }

    @Test func unreservedEscapesAreDecodedAndOthersKeptUpperCase() throws {
        #expect(RequestPath(target: "/x%41y")?.path == "/xAy")
        #expect(RequestPath(target: "/caf%c3%a9/%7euser")?.path == "/caf%C3%A9/~user")
    }

    @Test(arguments: ["/a%2fb", "/a%2Fb", "/a%5cb", "/a\\b", "/a/..;x/b", "/a/.;x", "/a%zz", "/a%4", "/admin%00/secret"])
    func rejectsTargetsABackendCouldResolveDifferently(raw: String) {
        #expect(RequestPath(target: raw) == nil, "\(raw)")
    }

    /// Escapes must decode to UTF-8 (found by an audit): an overlong `.` or `/` is what a
    /// lenient decoder turns into `/public/../admin/x`, a route that skipped the checks.
    @Test(arguments: [
        "/public/%c0%ae%c0%ae/admin/x", "/public/%c0%af", "/p/%e0%80%ae%e0%80%ae", "/p/%f0%80%80%af", "/p/%ed%a0%80", "/p/%ff",
        "/p/caf%c3", "/p/%c3x%a9", "/p/%f4%90%80%80",
    ])
    func rejectsEscapesThatAreNotUTF8(raw: String) {
        #expect(RequestPath(target: raw) == nil, "\(raw)")
    }

    @Test func acceptsEscapedUTF8BesideOtherCharacters() {
        #expect(RequestPath(target: "/a|b/caf%C3%A9%7C/%E2%82%AC%F0%9F%98%80")?.path == "/a%7Cb/caf%C3%A9%7C/%E2%82%AC%F0%9F%98%80")
        #expect(RequestPath(target: "/x%41/%c3%a9;v=%e2%82%ac")?.path == "/xA/%C3%A9;v=%E2%82%AC")
    }

    @Test func encodedDotSegmentsNormalizeLikeLiteralOnes() throws {
        // What was authorized must be what the backend receives, whatever the spelling.
        // RFC 3986 §6.2.2.2 makes `%2E` equivalent to `.`, and §5.2.4 keeps the trailing slash
        // of a final dot-segment (`/a/b/..` → `/a/`).
        let pairs = [
            ("/a/b/%2e%2e/c", "/a/b/../c"), ("/a/%2e/b", "/a/./b"),
            ("/a/b/%2e%2e", "/a/b/.."), ("/a/b/%2E", "/a/b/."),
        ]
        for (encoded, literal) in pairs {
            #expect(RequestPath(target: encoded)?.path == RequestPath(target: literal)?.path, "\(encoded)")
        }
    }

    /// One spelling per character, so two spellings a backend decodes alike are routed alike
    /// (found by an audit: `/v1/things%3Apurge` skipped the route `/v1/things:purge`).
    @Test(arguments: [
        ("/v1/things%3Apurge", "/v1/things:purge"), ("/v1/things%3apurge", "/v1/things:purge"),
        ("/%40me/%21%24%26%27%28%29%2A%2B%2C%3D", "/@me/!$&'()*+,="),
        ("/r|s/x", "/r%7Cs/x"), ("/r%7cs/x", "/r%7Cs/x"), ("/a\"b{c}^`[d]", "/a%22b%7Bc%7D%5E%60%5Bd%5D"),
        ("/q%3Fx/%23/%25", "/q%3Fx/%23/%25"), ("/a%3Bb", "/a%3Bb"), ("/a%3bb", "/a%3Bb"),
    ])
    func everyCharacterHasOneSpelling(raw: String, expected: String) throws {
        let target = try #require(RequestPath(target: raw), "\(raw)")
        #expect(target.path == expected[...], "\(raw)")
    }

    /// A segment's parameters are forwarded but not routed on, as Tomcat, Jetty and Spring
    /// leave them out (found by an audit: `/admin;x/secret` fell to a route after `/admin/`).
    @Test func parametersAreLeftOutOfTheRoutingPath() throws {
        let target = try #require(RequestPath(target: "/admin;jsessionid=1/secret;v=2?q=;x"))
        #expect(target.path == "/admin;jsessionid=1/secret;v=2")
        #expect(target.routingPath == "/admin/secret")
        #expect(target.query == "q=;x")
        #expect(RequestPath(target: "/a/b")?.routingPath == "/a/b")
        #expect(RequestPath(target: "/a%3Bx/b")?.routingPath == "/a%3Bx/b", "an encoded ; is part of the name")
    }
}
