import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

/// The complete rule for which client field names never reach the backend as identity: every
/// name that some backend stack reads as a configured identity header (or as a name matching
/// `identity.strip`). Checked against the normalisations real stacks apply, written out here
/// independently of ``FoldedName``.
@Suite struct IdentityHeaderAliasesTests {
    /// Every token character (RFC 9110 §5.6.2) that is not a letter or a digit.
    static let separators: [Character] = ["!", "#", "$", "%", "&", "'", "*", "+", "-", ".", "^", "_", "`", "|", "~"]

    /// How stacks turn a field name into the key a backend reads, each on its own:
    /// - CGI (RFC 3875 §4.1.18), WSGI, Rack: `HTTP_` + upper case, `-` as `_`.
    /// - PHP (`$_SERVER`): that, then `.` and space as `_` in the variable name.
    /// - lighttpd, Apache `mod_cgi`-style environments and some Java and Node header maps:
    ///   every byte that is not a letter or a digit as `_`.
    /// - Servlet `getHeader`, Node `req.headers`, Go `CanonicalMIMEHeaderKey`: case only.
    static let stacks: [(String, @Sendable (String) -> String)] = [
        ("CGI/WSGI/Rack", { "HTTP_" + String($0.uppercased().map { $0 == "-" ? "_" : $0 }) }),
        ("PHP", { "HTTP_" + String($0.uppercased().map { $0 == "-" || $0 == "." || $0 == " " ? "_" : $0 }) }),
        ("alphanumeric", { String($0.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }) }),
        ("case-insensitive", { $0.lowercased() }),
    ]

    /// Whether any stack reads `name` as `header`.
    static func someStackReads(_ name: String, as header: String) -> Bool {
        stacks.contains { $0.1(name) == $0.1(header) }
    }

    func filter(_ fixture: PolicyFixture) -> RequestFieldFilter {
        var request = makeRequest(.get, "/x")
        return fixture.policy.stripUpstreamRequest(&request)
    }

    /// Both byte-level entry points and the swift-http-types one agree; for identity names,
    /// ``IdentityHeaders/isStripped(_:)`` too (`identity: nil` for forwarding headers, which
    /// only the filter drops).
    func isDropped(_ name: String, by filter: RequestFieldFilter, identity: IdentityHeaders?) -> Bool {
        var bytes = name
        let raw = bytes.withUTF8 { filter.drops(name: UnsafeRawBufferPointer($0)) }
        let line = bytes.withUTF8 { filter.dropsLine(name: UnsafeRawBufferPointer($0)) }
        let field = filter.drops(HTTPField.Name(name)!)
        let stripped = identity?.isStripped(HTTPField.Name(name)!) ?? raw
        #expect(raw == line && raw == field && raw == stripped, "\(name): the entry points disagree")
        return raw
    }

    @Test(arguments: separators)
    func everySeparatorSpellingOfAConfiguredHeaderIsStripped(separator: Character) {
        // No strip pattern: the configured name alone must catch every alias.
        let fixture = PolicyFixture(makeConfiguration(identity: identity(headers: [("X-User-Id", "sub")], strip: [])))
        let filter = filter(fixture)
        let s = String(separator)
        for name in ["X\(s)User\(s)Id", "x\(s)user-id", "X-User\(s)ID", "x\(s)USER\(s)id"] {
            #expect(isDropped(name, by: filter, identity: fixture.policy.identity), "\(name)")
        }
    }

    @Test(arguments: separators)
    func everySeparatorSpellingMatchesAStripPattern(separator: Character) {
        let fixture = PolicyFixture(makeConfiguration(identity: identity(headers: [], strip: ["X-User-*", "*-Impersonate"])))
        let filter = filter(fixture)
        let s = String(separator)
        for name in ["X\(s)User\(s)Groups", "x\(s)user\(s)", "X-USER\(s)Tenant\(s)Id", "Sudo\(s)Impersonate"] {
            #expect(isDropped(name, by: filter, identity: fixture.policy.identity), "\(name)")
        }
    }

    /// The patterns themselves may be written with any separator.
    @Test func patternsAndNamesWrittenWithOtherSeparatorsFoldTheSameWay() {
        let fixture = PolicyFixture(makeConfiguration(identity: identity(headers: [("Remote.User", "sub")], strip: ["Auth_*_Token"])))
        let filter = filter(fixture)
        for name in ["Remote-User", "remote_user", "REMOTE.USER", "Auth-Session-Token", "auth.x.token", "AUTH~a~TOKEN"] {
            #expect(isDropped(name, by: filter, identity: fixture.policy.identity), "\(name)")
        }
        for name in ["RemoteUser", "Remote-Users", "Auth-Token", "Auth-Session-Tokens"] {
            #expect(!isDropped(name, by: filter, identity: fixture.policy.identity), "\(name)")
        }
    }

    /// A `*` in a client's name is a separator, never a wildcard.
    @Test func aStarInAFieldNameIsNotAWildcard() {
        let fixture = PolicyFixture(makeConfiguration(identity: identity(headers: [("X-User-Id", "sub")], strip: [])))
        let filter = filter(fixture)
        #expect(isDropped("X*User*Id", by: filter, identity: fixture.policy.identity))
        #expect(!isDropped("X-User-*", by: filter, identity: fixture.policy.identity))
        #expect(!isDropped("*", by: filter, identity: fixture.policy.identity))
    }

    /// The forwarding headers the proxy sets are identity too: their aliases are dropped.
    @Test func forwardingHeaderAliasesAreDropped() {
        let fixture = PolicyFixture()
        let filter = filter(fixture)
        for name in ["X.Forwarded.For", "x_forwarded_proto", "X~Forwarded~Host", "X.Real.IP", "X.Request.Id", "x.forwarded.port"] {
            #expect(isDropped(name, by: filter, identity: nil), "\(name)")
        }
    }

    /// The rule, stated as a property: over names made of the configured ones with every
    /// separator, case and a few near misses, a name is dropped exactly when some stack reads
    /// it as a configured header or as a name matching a strip pattern.
    @Test func droppedExactlyWhenSomeStackReadsItAsIdentity() {
        let headers = ["X-User-Id", "X-User-Email", "Remote-User"]
        let fixture = PolicyFixture(makeConfiguration(identity: identity(
            headers: headers.map { ($0, "sub") }, strip: ["X-Auth-*"])))
        let filter = filter(fixture)
        var random = SplitMix64(seed: 0xA11A5)
        var checked = 0, dropped = 0
        let words = [["X", "User", "Id"], ["X", "User", "Email"], ["Remote", "User"], ["X", "Auth", "Level"], ["X", "Userid"],
            ["X", "Users", "Id"], ["Remote", "Users"], ["X", "", "User", "Id"], ["X", "Auth"], ["Y", "User", "Id"]]
        for _ in 0..<5000 {
            let parts = words[random.next(words.count)]
            var name = ""
            for (index, part) in parts.enumerated() {
                if index > 0 { name.append(Self.separators[random.next(Self.separators.count)]) }
                name += part.map { random.next(2) == 0 ? $0.uppercased() : $0.lowercased() }.joined()
            }
            guard HTTPField.Name(name) != nil else { continue }
            // `X-Auth-*`: what a stack reads as a name starting `X-Auth-` with something after
            // the separator (or nothing), i.e. the CGI key starts with `HTTP_X_AUTH_`.
            let readAsPattern = Self.stacks.contains { stack in
                stack.1(name).hasPrefix(stack.1("X-Auth-"))
            }
            let expected = headers.contains { Self.someStackReads(name, as: $0) } || readAsPattern
            #expect(isDropped(name, by: filter, identity: fixture.policy.identity) == expected, "\(name)")
            checked += 1
            if expected { dropped += 1 }
        }
        #expect(checked > 4000 && dropped > 1000 && checked - dropped > 1000)
    }

    @Test func nearMissesAreForwarded() {
        let fixture = PolicyFixture()  // the defaults: X-User-Id/Email/Roles, strip X-User-*
        let filter = filter(fixture)
        for name in ["X-Userid", "XUser-Id", "X-Users-Id", "X--User-Id", "User-Id", "X-Username", "Accept", "X-Trace-Id"] {
            #expect(!isDropped(name, by: filter, identity: fixture.policy.identity), "\(name)")
            #expect(!Self.stacks.contains { $0.1(name) == $0.1("X-User-Id") }, "\(name) is read as X-User-Id by some stack")
        }
    }

    /// Through the whole phase: the backend gets the session's value and no client alias.
    @Test func noAliasSurvivesThePhase() async throws {
        let fixture = PolicyFixture()
        let (_, cookie) = try await fixture.login(["sub": "alice", "email": "a@example.com"])
        let aliases = Self.separators.map { s in ("X\(s)User\(s)Id", "mallory") } + [("x.user.email", "m@evil"), ("X~User~Roles", "admin")]
        var request = makeRequest(.get, "/private", headers: aliases + [("Cookie", cookie)])
        let exchange = try await fixture.beginAndLookUp(&request)
        fixture.policy.prepareUpstreamRequest(&request, exchange: exchange)
        let readAsIdentity = request.headerFields.filter { field in
            ["X-User-Id", "X-User-Email", "X-User-Roles"].contains { Self.someStackReads(field.name.rawName, as: $0) }
        }
        #expect(readAsIdentity.map(\.name.rawName) == ["X-User-Id", "X-User-Email"])
        #expect(readAsIdentity.map(\.value) == ["alice", "a@example.com"])
    }

    func identity(headers: [(String, String)], strip: [String]) -> IdentitySettings {
        var settings = IdentitySettings()
        settings.headers = headers.map { HeaderMapping(header: $0.0, attribute: $0.1) }
        settings.strip = strip
        return settings
    }
}

/// A small seeded generator, so a failure reproduces.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
