import Testing

@testable import CloakroomConfig

@Suite("Decoding the session section")
struct ConfigurationDecoderSessionTests {
    private let secret = String(repeating: "s", count: 32)

    private func session(_ body: String) -> String {
        minimal(adding: "session:\n" + body.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")
    }

    // MARK: cookie

    @Test(arguments: [
        ("auto", CookieSettings.Secure.auto), ("true", .always), ("false", .never), ("\"true\"", .always),
        ("True", .always),
    ])
    func secureAcceptsAutoAndBooleans(text: String, expected: CookieSettings.Secure) throws {
        #expect(try #require(load(session("cookie: { secure: \(text) }"))).session.cookie.secure == expected)
    }

    @Test func secureRejectsOtherWords() {
        expectSingleProblem(
            session("cookie: { secure: maybe }"), at: "session.cookie.secure",
            "expected auto, true or false, got \"maybe\"", exact: true)
    }

    @Test(arguments: ["my cookie", "a;b", "é", "a=b"])
    func cookieNameMustBeAToken(name: String) {
        expectSingleProblem(
            session("cookie: { name: \"\(name)\" }"), at: "session.cookie.name", "is not a valid cookie name")
    }

    @Test func sameSiteIsOneOfThree() {
        expectSingleProblem(
            session("cookie: { same_site: loose }"), at: "session.cookie.same_site",
            "expected one of strict, lax, none, got \"loose\"", exact: true)
    }

    @Test func sameSiteNoneRequiresSecure() {
        expectSingleProblem(
            session("cookie: { same_site: none, secure: false }"), at: "session.cookie.same_site", "requires secure")
    }

    @Test func sameSiteNoneWithAutoIsFine() throws {
        #expect(
            try #require(load(session("cookie: { same_site: none }"))).session.cookie.sameSite
                == CookieSettings.SameSite.none)
    }

    @Test func hostPrefixRequiresSecure() {
        expectSingleProblem(
            session("cookie: { name: __Host-sid, secure: false }"), at: "session.cookie.secure", "__Host-")
    }

    @Test func hostPrefixRequiresRootPath() {
        expectSingleProblem(
            session("cookie: { name: __Host-sid, path: /app }"), at: "session.cookie.path", "path \"/\"")
    }

    @Test func hostPrefixForbidsDomain() {
        expectSingleProblem(
            session("cookie: { name: __Host-sid, domain: example.com }"), at: "session.cookie.domain",
            "must not have a domain")
    }

    @Test func securePrefixRequiresSecure() {
        expectSingleProblem(
            session("cookie: { name: __Secure-sid, secure: false }"), at: "session.cookie.secure", "__Secure-")
    }

    @Test func hostPrefixWithDefaultsIsFine() throws {
        #expect(try #require(load(session("cookie: { name: __Host-sid }"))).session.cookie.name == "__Host-sid")
    }

    @Test func domainIsNullOrAName() throws {
        #expect(try #require(load(session("cookie: { domain: null }"))).session.cookie.domain == nil)
        #expect(try #require(load(session("cookie: { domain: .example.com }"))).session.cookie.domain == ".example.com")
        expectSingleProblem(session("cookie: { domain: \"\" }"), at: "session.cookie.domain", "must not be empty")
        expectSingleProblem(
            session("cookie: { domain: \"exa mple.com\" }"), at: "session.cookie.domain", "not a domain name")
        // Found by an audit: a number, hyphens at a label's edge, an address passed.
        for bad in ["5", "-bad-.com", "a..b.com", "10.0.0.1", "example.com.", "..", String(repeating: "x", count: 64) + ".com"] {
            expectSingleProblem(session("cookie: { domain: \"\(bad)\" }"), at: "session.cookie.domain", "not a domain name")
        }
        for good in ["localhost", "a-b.example.co.uk", "xn--bcher-kva.example", "app1.example.com"] {
            #expect(try #require(load(session("cookie: { domain: \(good) }"))).session.cookie.domain == good)
        }
    }

    @Test func cookiePathStartsWithSlash() {
        expectSingleProblem(session("cookie: { path: app }"), at: "session.cookie.path", "must start with \"/\"")
        expectSingleProblem(session("cookie: { path: \"/a;b\" }"), at: "session.cookie.path", "\";\"")
    }

    // MARK: timeouts

    @Test(arguments: ["idle_timeout", "absolute_timeout", "touch_interval"])
    func timeoutsArePositiveDurations(key: String) {
        expectSingleProblem(session("\(key): 0s"), at: "session.\(key)", "must be greater than 0")
        expectSingleProblem(session("\(key): forever"), at: "session.\(key)", "expected a duration like 30s")
    }

    @Test func touchIntervalMustNotExceedIdleTimeout() {
        expectSingleProblem(
            session("idle_timeout: 5m\ntouch_interval: 10m"), at: "session.touch_interval",
            "must not exceed session.idle_timeout (5m)", exact: true)
    }

    @Test func touchIntervalEqualToIdleTimeoutIsFineAndTheStoresUseHalf() throws {
        let settings = try #require(load(session("idle_timeout: 5m\ntouch_interval: 5m"))).session
        #expect(settings.touchInterval == .seconds(300))
        #expect(settings.effectiveTouchInterval == .seconds(150), "a steadily used session never idles out")
    }

    /// A short idle timeout alone is a working config: the unset touch interval follows it.
    @Test func anUnsetTouchIntervalFollowsAShortIdleTimeout() throws {
        for (idle, touch) in [("3s", Duration.milliseconds(1500)), ("59s", .milliseconds(29_500)), ("2m", .seconds(60)), ("30m", .seconds(60))] {
            let settings = try #require(load(session("idle_timeout: \(idle)")), "\(idle)").session
            #expect(settings.touchInterval == touch, "\(idle)")
            #expect(settings.effectiveTouchInterval == touch, "\(idle)")
        }
        #expect(try #require(load(session("idle_timeout: 10s\ntouch_interval: 2s"))).session.effectiveTouchInterval == .seconds(2))
    }

    @Test func badIdleTimeoutDoesNotAlsoBlameTouchInterval() {
        expectSingleProblem(
            session("idle_timeout: later\ntouch_interval: 45m"), at: "session.idle_timeout", "expected a duration")
    }

    // MARK: secrets

    @Test func secretsNeed32Bytes() {
        expectSingleProblem(
            session("secrets: [\"\(secret)\", \"too short\"]"), at: "session.secrets[1]",
            "must be at least 32 bytes, got 9", exact: true)
    }

    /// Found by an audit: the secret itself was quoted in the message, which reaches the log
    /// and the answer to `POST /reload`.
    @Test func secretsMustBeAListAndASingleOneIsNotShown() {
        let found = problems(in: session("secrets: \"\(secret)\""))
        #expect(found.map(\.path) == ["session.secrets"])
        #expect(found.first?.message.contains("expected a list") == true, "\(found)")
        #expect(found.allSatisfy { !$0.message.contains(secret) && !$0.description.contains(secret) }, "\(found)")
    }

    /// Found by an audit: with `path: /app`, `/logout` answered 204 and deleted the cookie,
    /// but the browser never sent the cookie there, so the session lived on.
    @Test func theCookiePathMustCoverLoginAndLogout() {
        expectSingleProblem(
            session("cookie: { path: /app }"), at: "session.cookie.path",
            "must cover login.path (/login) and logout.path (/logout): a browser sends the cookie only under its path",
            exact: false)
        #expect(load(session("cookie: { path: /app }") + "login: { path: /app/login }\nlogout: { path: /app/logout }\n") != nil)
        #expect(load(session("cookie: { path: /app/ }") + "login: { path: /app/login }\nlogout: { path: /app/logout }\n") != nil)
        expectSingleProblem(
            session("cookie: { path: /app }") + "login: { path: /app/login }\nlogout: { path: /application/logout }\n",
            at: "session.cookie.path", "must cover logout.path (/application/logout):")
    }

    @Test func secretsMayBeOmittedWithTheMemoryStore() throws {
        #expect(try #require(load(session("store: { memory: {} }"))).session.secrets == [])
    }

    @Test(arguments: ["file: { path: sessions.db }", "redis: {}"])
    func secretsAreRequiredWithDurableStores(store: String) {
        expectSingleProblem(
            session("store: { \(store) }"), at: "session.secrets", "required with the file and redis stores",
            exact: true)
        expectSingleProblem(
            session("secrets: []\nstore: { \(store) }"), at: "session.secrets",
            "required with the file and redis stores")
    }

    /// Found by an audit: a durable store whose own settings had a problem (a path in a
    /// missing directory, an unknown key, a bad pool size) hid the rules that depend only on
    /// its kind: `check` said nothing of the missing secrets or assertion keys until the store
    /// was fixed.
    @Test(arguments: [
        ("file: { path: /nonexistent-dir/s.db }", "session.store.file.path"), ("file: { path: s.db, extra: 1 }", "session.store.file.extra"),
        ("redis: { url: \"redis://127.0.0.1:6379\", pool_size: 0 }", "session.store.redis.pool_size"),
    ])
    func theStoresKindIsEnoughForTheRulesOfDurableStores(store: String, storeProblem: String) {
        let found = problems(in: session("store: { \(store) }") + "identity:\n  assertion: {}\n").map(\.path)
        #expect(found.sorted() == ["identity.assertion.signing_keys", "session.secrets", storeProblem].sorted(), "\(found)")
    }

    @Test func unsetSecretIsNotAlsoReportedAsMissing() {
        expectSingleProblem(
            session("secrets: [\"${NOPE}\"]\nstore: { file: { path: s.db } }"), at: "session.secrets[0]",
            "environment variable NOPE is not set", exact: true)
    }

    // MARK: store

    @Test(arguments: ["memory: {}", "memory:", "memory: null"])
    func memoryStoreDefaults(text: String) throws {
        #expect(try #require(load(session("store:\n  \(text)"))).session.store == .memory(MemoryStoreSettings()))
    }

    @Test func memoryStoreLimit() throws {
        #expect(
            try #require(load(session("store: { memory: { max_sessions: 10 } }"))).session.store
                == .memory(MemoryStoreSettings(maxSessions: 10)))
        expectSingleProblem(
            session("store: { memory: { max_sessions: 0 } }"), at: "session.store.memory.max_sessions",
            "must be at least 1, got 0", exact: true)
        // Found by a black-box audit: check passed 2147483648, which stopped serve at a precondition.
        expectSingleProblem(
            session("store: { memory: { max_sessions: 2147483648 } }"), at: "session.store.memory.max_sessions",
            "must be at most 1000000000, got 2147483648", exact: true)
        expectSingleProblem(
            session("store: { memory: { max_sessions: many } }"), at: "session.store.memory.max_sessions",
            "expected an integer, got \"many\"", exact: true)
    }

    @Test func fileStore() throws {
        let configuration = try #require(
            load(
                session("secrets: [\"\(secret)\"]\nstore: { file: { path: /var/lib/cloakroom/s.db } }"),
                files: FakeFileSystem(["/var/lib/cloakroom": FakeFileSystem.directory])))
        #expect(configuration.session.store == .file(FileStoreSettings(path: "/var/lib/cloakroom/s.db")))
        // The path shown in the SPEC is the default, checked like a written one.
        let defaulted = try #require(
            load(session("secrets: [\"\(secret)\"]\nstore: { file: {} }"), files: FakeFileSystem([".": FakeFileSystem.directory])))
        #expect(defaulted.session.store == .file(FileStoreSettings(path: "sessions.db")))
        let missing = problems(in: session("secrets: [\"\(secret)\"]\nstore: { file: {} }"), files: FakeFileSystem([:]))
        #expect(missing.map(\.path) == ["session.store.file.path"] && missing[0].message.contains("directory \".\" does not exist"), "\(missing)")
    }

    @Test func redisStoreDefaultsAndURLScheme() throws {
        let configuration = try #require(load(session("secrets: [\"\(secret)\"]\nstore: { redis: }")))
        #expect(configuration.session.store == .redis(RedisStoreSettings()))
        expectSingleProblem(
            session("secrets: [\"\(secret)\"]\nstore: { redis: { url: \"http://x:6379\" } }"),
            at: "session.store.redis.url", "expected a redis:// or rediss:// URL")
    }

    @Test func storeNeedsExactlyOneKind() {
        expectSingleProblem(
            session("store: {}"), at: "session.store", "expected exactly one of memory, file, redis", exact: true)
        expectSingleProblem(session("store: { memory: {}, redis: {} }"), at: "session.store", "found memory and redis")
        // Each kind's own problems too (found by a black-box audit: they showed only once the
        // second kind was taken out).
        let found = problems(in: session("store: { memory: { max_sessions: 0 }, redis: { tyop: 1 } }"))
        #expect(found.map(\.path).sorted() == ["session.store", "session.store.memory.max_sessions", "session.store.redis.tyop"], "\(found)")
    }

    @Test func unknownStoreKindIsOneProblem() {
        expectSingleProblem(session("store: { sqlite: {} }"), at: "session.store.sqlite", "unknown key", exact: true)
    }

    @Test func storeNotAMapping() {
        expectSingleProblem(
            session("store: memory"), at: "session.store", "expected a mapping, got \"memory\"", exact: true)
    }
}
