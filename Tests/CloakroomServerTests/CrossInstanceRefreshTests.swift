import CloakroomConfig
import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Logging
import Synchronization
import Testing

@testable import CloakroomProxy

/// One refresh at a time per session across instances: two ``TokenRefresher``s, each over its
/// own ``RedisSessionStore`` on one real redis-server (two Cloakroom instances), refreshing one
/// session against a provider that rotates refresh tokens and refuses a reused one, as
/// Keycloak and Okta do.
@Suite(.serialized)
struct CrossInstanceRefreshTests {
    /// Refreshes take `delay`; each refresh token works once and is replaced (`rt-1` → `rt-2`
    /// …); a used one is refused.
    final class RotatingProvider: SingleSignOn, Sendable {
        let settings = OIDCSettings(issuer: "https://idp.example", clientID: "c", clientSecret: "s", redirectURL: "https://app.example/oauth2/callback")
        let delay: Duration
        /// Refresh grants received, and the refresh tokens already used.
        let state = Mutex<(grants: Int, used: Set<String>)>((0, []))
        init(delay: Duration = .milliseconds(200)) { self.delay = delay }
        var grants: Int { state.withLock { $0.grants } }

        func beginLogin(next: String) async -> Result<(location: String, state: String, cookieValue: String), SignOnFailure> { .failure(.refused("test")) }
        func pendingLoginState(_ cookieValue: String, now: Date) -> String? { nil }
        func completeLogin(query: Substring, cookieValue: String?, firstUse: @escaping @Sendable (String, Date) async throws -> Bool) async -> Result<SignedOn, SignOnFailure> {
            .failure(.refused("test"))
        }
        func accessToken(in secrets: JSONObject, now: Date) -> (token: String?, refreshDue: Bool) {
            guard case .string(let token)? = secrets["access_token"], case .number(let expires)? = secrets["expires_at"] else { return (nil, false) }
            return (token, expires - now.timeIntervalSince1970 < 60)
        }
        func refresh(_ secrets: JSONObject) async -> Result<JSONObject, SignOnFailure> {
            guard case .string(let presented)? = secrets["refresh_token"] else { return .failure(.refused("no refresh token")) }
            let generation = state.withLock { state -> Int? in
                state.grants += 1
                guard state.used.insert(presented).inserted else { return nil }
                return state.grants
            }
            try? await Task.sleep(for: delay)
            guard let generation else { return .failure(.refused("invalid_grant: refresh token reused")) }
            return .success([
                "access_token": .string("at-\(generation + 1)"), "refresh_token": .string("rt-\(generation + 1)"),
                "expires_at": 9_999_999_999,
            ])
        }
        func verifyLogoutToken(_ token: String) async -> Result<ProviderLogout, SignOnFailure> { .failure(.refused("test")) }
        func endSessionLocation(secrets: JSONObject?, postLogoutRedirect: String) -> String? { nil }
        func bearerVerdictNow(_ token: String, now: Date) -> BearerVerdict? { nil }
        func verifyBearer(_ token: String, now: Date) async -> BearerVerdict { .invalid("test") }
    }

    static let logger: Logger = {
        var logger = Logger(label: "cloakroom.tests.refresh")
        logger.logLevel = .critical
        return logger
    }()

    static let timeouts = SessionStoreConformance.timeouts

    /// Two instances (store and refresher each) on one Redis and prefix, and a session whose
    /// access token is due.
    static func withTwoInstances(
        _ provider: RotatingProvider, leaseLifetime: Duration = TokenRefresher.defaultLeaseLifetime,
        _ body: (RedisServerProcess, [TokenRefresher], SessionKey) async throws -> Void
    ) async throws {
        try await RedisServerProcess.with { redis in
            let clock = ManualWallClock()
            let settings = try RedisSessionStoreSettings(url: redis.url, keyPrefix: "refresh-test:", connectTimeout: .milliseconds(300), commandTimeout: .milliseconds(500))
            let stores = try (0..<2).map { _ in try RedisSessionStore(settings: settings, timeouts: timeouts, clock: clock, logger: logger) }
            do {
                let refreshers = stores.map {
                    TokenRefresher(provider: provider, store: $0, clock: clock, logger: logger, leaseLifetime: leaseLifetime)
                }
                let key = SessionID.random().key
                let due = clock.now().timeIntervalSince1970 + 30  // under a minute left
                _ = try await stores[0].create(
                    key: key, attributes: ["sub": "alice"],
                    secrets: ["access_token": "at-1", "refresh_token": "rt-1", "expires_at": .number(due)], links: [])
                try await body(redis, refreshers, key)
            } catch {
                for store in stores { try? await store.close() }
                throw error
            }
            for store in stores { try await store.close() }
        }
    }

    static func token(_ outcome: TokenRefresher.Outcome) -> String? {
        if case .token(let token) = outcome { return token }
        return "\(outcome)"
    }

    @Test func concurrentRequestsOnTwoInstancesShareOneRefresh() async throws {
        let provider = RotatingProvider()
        try await Self.withTwoInstances(provider) { _, refreshers, key in
            let tokens = await withTaskGroup(of: String?.self) { group in
                for i in 0..<8 {
                    let refresher = refreshers[i % 2]
                    group.addTask { Self.token(await refresher.token(key: key, secrets: nil, requestID: "r\(i)")) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(provider.grants == 1, "one refresh grant for the session, not one per instance")
            #expect(tokens == Array(repeating: "at-2", count: 8))
            let stored = try await refreshers[1].store.secrets(key: key)
            #expect(stored?["access_token"] == "at-2" && stored?["refresh_token"] == "rt-2")
            // Later requests on either instance use the stored token without a refresh.
            for refresher in refreshers { #expect(Self.token(await refresher.token(key: key, secrets: nil, requestID: "later")) == "at-2") }
            #expect(provider.grants == 1)
        }
    }

    @Test func aWaitingInstanceRefreshesOnceTheLeaseIsFreedWithoutARefresh() async throws {
        let provider = RotatingProvider()
        try await Self.withTwoInstances(provider) { _, refreshers, key in
            // Another instance holds the lease, then gives it back without having refreshed
            // (its provider call failed, say).
            let held = try #require(try await refreshers[1].store.leaseRefresh(key: key, for: .seconds(10)))
            let started = ContinuousClock.now
            async let outcome = refreshers[0].token(key: key, secrets: nil, requestID: "r")
            try await Task.sleep(for: .milliseconds(400))
            #expect(provider.grants == 0, "no refresh while the lease is held elsewhere")
            try await refreshers[1].store.releaseRefresh(held)
            #expect(Self.token(await outcome) == "at-2")
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            #expect(provider.grants == 1)
        }
    }

    @Test func aLeaseHeldLongerThanTheWaitIsUnavailableAndAGoneSessionEnded() async throws {
        let provider = RotatingProvider()
        try await Self.withTwoInstances(provider, leaseLifetime: .milliseconds(500)) { _, refreshers, key in
            _ = try #require(try await refreshers[1].store.leaseRefresh(key: key, for: .seconds(10)))
            let started = ContinuousClock.now
            guard case .unavailable = await refreshers[0].token(key: key, secrets: nil, requestID: "r") else {
                Issue.record("expected unavailable"); return
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(500) && waited < .seconds(8), "gave up after the lease's lifetime: \(waited)")
            #expect(provider.grants == 0)
            #expect(try await refreshers[0].store.lookup(key: key) != nil, "the session is left as it is")

            // The session ends while a request waits: that request ends too, without a refresh.
            async let outcome = refreshers[0].token(key: key, secrets: nil, requestID: "r2")
            try await Task.sleep(for: .milliseconds(150))
            #expect(try await refreshers[1].store.revoke(key: key))
            guard case .sessionEnded = await outcome else { Issue.record("expected sessionEnded"); return }
            #expect(provider.grants == 0)
        }
    }

    @Test func aStoreThatCannotLeaseFailsTheRequestWithoutARefresh() async throws {
        let provider = RotatingProvider()
        try await Self.withTwoInstances(provider) { redis, refreshers, key in
            // Only the lease fails: Redis refuses `SET` to the store's user, and nothing else.
            _ = try await redis.cli(["ACL", "SETUSER", "default", "-set"])
            #expect(try await refreshers[0].store.secrets(key: key)?["access_token"] == "at-1", "the session itself reads")
            guard case .storeFailed = await refreshers[0].token(key: key, secrets: nil, requestID: "r") else {
                Issue.record("expected storeFailed"); return
            }
            #expect(provider.grants == 0, "never a refresh without the lease")
        }
    }
}

/// The same end to end: two `cloakroom` binaries on one redis-server, signed in through the
/// real provider (idpyoidc) with `pass_access_token`, and requests on both once the token is due.
@Suite(.serialized)
struct CrossInstanceRefreshBinaryTests {
    @Test func twoInstancesRefreshASessionOnceThroughTheRealProvider() async throws {
        // 6 s: due 2 s before expiry (a third of its life), so a refresh under a loaded
        // machine's slow login is not due again before the burst below is over.
        try await RedisServerProcess.with { redis in
            try await IdentityProviderProcess.withTwoInstances(on: redis, accessLifetime: 6, passingTokens: true) { _, a, b in
                let browser = CookieJarBrowser()
                let first = try await browser.get("\(a.base)/login?next=/app")
                let (page, url) = try await browser.follow(first, from: "\(a.base)/login?next=/app")
                _ = try await browser.signInAtProvider(page, url: url, user: "babs", password: "howes")
                let cookie = try #require(browser.cookie(named: "cloakroom_session"))
                #expect(try await b.status(cookie) == 200)
                let firstToken = try #require(b.backend.requests.last?.value("authorization"))

                func refreshesLogged() -> Int {
                    var count = 0
                    for instance in [a, b] {
                        for path in [instance.stdoutPath, instance.stderrPath] {
                            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                            count += text.components(separatedBy: "access token refreshed").count - 1
                        }
                    }
                    return count
                }
                try await Task.sleep(for: .seconds(5))  // the access token is due now
                let before = refreshesLogged()
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<8 {
                        let instance = index % 2 == 0 ? a : b
                        group.addTask { try await instance.status(cookie, "/api/\(index)") }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses == Array(repeating: 200, count: 8))
                let tokens = Set((a.backend.requests.suffix(4) + b.backend.requests.suffix(4)).compactMap { $0.value("authorization") })
                #expect(tokens.count == 1 && !tokens.contains(firstToken), "all eight carried the one new token: \(tokens.count)")
                #expect(refreshesLogged() - before == 1, "one refresh across both instances for the eight")
            }
        }
    }
}
