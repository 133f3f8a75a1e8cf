import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import Testing

@Suite struct IdentityHeadersTests {
    /// The spec's defaults: X-User-Id/Email/Roles from sub/email/roles, strip `X-User-*`.
    let defaults = IdentityHeaders(IdentitySettings())

    func custom(headers: [(String, String)], strip: [String]) -> IdentityHeaders {
        var settings = IdentitySettings()
        settings.headers = headers.map { HeaderMapping(header: $0.0, attribute: $0.1) }
        settings.strip = strip
        return IdentityHeaders(settings)
    }

    func name(_ text: String) -> HTTPField.Name { HTTPField.Name(text)! }

    @Test(arguments: [
        "X-User-Id", "x-user-id", "X-USER-ID", "X_User_Id", "x_user_email", "X-User-Roles",
        "X-User-Anything", "x-user-", "X_USER_Whatever", "X-User_Id", "X_User-Groups",
    ])
    func stripsIdentitySpellings(header: String) {
        #expect(defaults.isStripped(name(header)), "\(header)")
    }

    @Test(arguments: [
        "X-Userid", "X-Users-Id", "User-Id", "Authorization", "Cookie", "X-Request-Id", "X-Forwarded-User",
        "Accept", "XUser-Id", "X-Use-Id", "A-X-User-Id",
    ])
    func leavesUnrelatedHeaders(header: String) {
        #expect(!defaults.isStripped(name(header)), "\(header)")
    }

    @Test func customPatterns() {
        let identity = custom(headers: [], strip: ["*-Secret", "Remote-*", "X-*-Token", "Exact-Name"])
        for stripped in [
            "X-Api-Secret", "x_db_secret", "-secret", "Remote-User", "remote_groups", "REMOTE-", "X-Auth-Token",
            "x_session_token", "X--Token", "Exact-Name", "exact_name",
        ] {
            #expect(identity.isStripped(name(stripped)), "\(stripped)")
        }
        for kept in [
            "Secret", "X-Secret-Key", "X-Api-Secrets", "Remote", "Not-Remote-User", "X-Token", "X-Auth-Tokens",
            "Y-Auth-Token", "Exact-Name-2", "Exact",
        ] {
            #expect(!identity.isStripped(name(kept)), "\(kept)")
        }
    }

    @Test func wildcardAlone() {
        let identity = custom(headers: [], strip: ["*"])
        #expect(identity.isStripped(name("Anything")))
        #expect(identity.isStripped(name("Accept")))
    }

    @Test func patternWithSeveralStars() {
        let identity = custom(headers: [], strip: ["X-*-User-*-Id"])
        #expect(identity.isStripped(name("X-Corp-User-Main-Id")))
        #expect(identity.isStripped(name("x_a_user_b_id")))
        #expect(!identity.isStripped(name("X-Corp-User-Id")))  // the two `-` around `*` need their own text
        #expect(!identity.isStripped(name("X-Corp-User-Main-Idx")))
        #expect(!identity.isStripped(name("Y-Corp-User-Main-Id")))
    }

    @Test func configuredHeaderNamesAreStrippedWithoutAMatchingPattern() {
        let identity = custom(headers: [("Remote-Email", "email"), ("X-Tenant", "tenant")], strip: [])
        #expect(identity.isStripped(name("Remote-Email")))
        #expect(identity.isStripped(name("remote_email")))
        #expect(identity.isStripped(name("X_TENANT")))
        #expect(!identity.isStripped(name("Remote-User")))
        #expect(!identity.isStripped(name("X-User-Id")))
    }

    @Test func noStripPatternsStillStripsConfiguredNames() {
        let identity = custom(headers: [("X-User-Id", "sub")], strip: [])
        #expect(identity.isStripped(name("x_user_id")))
        #expect(!identity.isStripped(name("X-User-Email")))
    }

    @Test func stripRemovesEveryMatchingFieldAndKeepsTheRestInOrder() {
        var fields = makeFields([
            ("Accept", "application/json"),
            ("X-User-Id", "mallory"),
            ("x_user_email", "m@evil.example"),
            ("X-Trace", "1"),
            ("X_User_Id", "mallory2"),
            ("X-User-Admin", "true"),
            ("Cookie", "a=1"),
        ])
        defaults.strip(&fields)
        #expect(fields.map(\.name.canonicalName) == ["accept", "x-trace", "cookie"])
        #expect(fields.map(\.value) == ["application/json", "1", "a=1"])
    }

    @Test func injectsStringsNumbersBoolsAndArrays() {
        let identity = custom(
            headers: [("X-User-Id", "sub"), ("X-Age", "age"), ("X-Ratio", "ratio"), ("X-Admin", "admin"),
                ("X-Roles", "roles"), ("X-Empty", "none"), ("X-Org", "org")],
            strip: [])
        var fields = HTTPFields()
        identity.inject(
            ["sub": "alice", "age": 42, "ratio": 1.5, "admin": false, "roles": ["reader", "writer"], "none": [],
                "org": ["id": 7]],
            into: &fields)
        #expect(fields[name("X-User-Id")] == "alice")
        #expect(fields[name("X-Age")] == "42")
        #expect(fields[name("X-Ratio")] == "1.5")
        #expect(fields[name("X-Admin")] == "false")
        #expect(fields[name("X-Roles")] == "reader, writer")
        #expect(values("X-Roles", in: fields).count == 1, "an array is one joined field, not several")
        #expect(fields[name("X-Empty")] == "")
        #expect(fields[name("X-Org")] == #"{"id":7}"#)
    }

    @Test func injectsInConfiguredOrder() {
        var fields = HTTPFields()
        defaults.inject(["roles": ["a"], "email": "a@example.com", "sub": "alice"], into: &fields)
        #expect(fields.map(\.name.canonicalName) == ["x-user-id", "x-user-email", "x-user-roles"])
    }

    @Test func absentOrNullAttributeLeavesHeaderAbsent() {
        var fields = HTTPFields()
        defaults.inject(["sub": "alice", "email": .null], into: &fields)
        #expect(fields[name("X-User-Id")] == "alice")
        #expect(fields[name("X-User-Email")] == nil)
        #expect(fields[name("X-User-Roles")] == nil)
        #expect(fields.count == 1)
    }

    @Test func unsafeStringValueIsLeftOut() {
        var fields = HTTPFields()
        defaults.inject(["sub": "alice\r\nX-Admin: true", "email": "a@example.com"], into: &fields)
        #expect(fields[name("X-User-Id")] == nil)
        #expect(fields[name("X-User-Email")] == "a@example.com")
    }

    @Test func stripThenInjectNeverLeavesTheClientsValue() {
        var fields = makeFields([
            ("X-User-Id", "mallory"), ("X_User_Id", "mallory"), ("x-user-email", "m@evil.example"),
            ("X-User-Roles", "admin"),
        ])
        defaults.strip(&fields)
        // Alice has no email and no roles: the client's copies must not survive in their place.
        defaults.inject(["sub": "alice"], into: &fields)
        #expect(values("X-User-Id", in: fields) == ["alice"])
        #expect(values("X-User-Email", in: fields).isEmpty)
        #expect(values("X-User-Roles", in: fields).isEmpty)
        #expect(fields.count == 1)
    }
}
