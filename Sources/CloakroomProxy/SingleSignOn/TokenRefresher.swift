import CloakroomSessions
import Logging
import Synchronization

/// The access token a forwarded request carries with `pass_access_token`, refreshed first when
/// due — one refresh at a time per session, across every instance sharing the store:
///
/// - In this process, requests that find a refresh under way (on any HTTP/1.1 connection or
///   HTTP/2 stream) wait for it and use its result.
/// - Across instances, the refresh holds the store's lease on the session
///   (``ProviderSessionStore/leaseRefresh(key:for:)``: a key with a TTL in Redis, always
///   granted by the single-process stores) while it calls the provider. An instance that finds
///   the lease taken re-reads the session every ``pollInterval`` and uses the token the holder
///   stored, takes the lease when it is free again, or gives up after ``leaseLifetime`` (502).
///   Without it, a provider that rotates refresh tokens and detects reuse (Keycloak, Okta)
///   would refuse the second instance's grant and the session would end.
///
/// A refresh the provider refuses ends the session (`refresh_failed`); one that cannot reach
/// the provider leaves it as it is and fails only the requests that needed it (502). A store
/// that cannot be asked for the lease fails the request (503): never a refresh without it.
final class TokenRefresher: Sendable {
    enum Outcome: Sendable {
        case token(String?)
        /// The session ended (refused refresh) or is gone.
        case sessionEnded
        /// The provider could not be reached, or another instance's refresh did not finish (502).
        case unavailable(String)
        /// The session store failed (503).
        case storeFailed(String)
    }

    /// How long a refresh holds the lease: more than a refresh can take, which is at most three
    /// provider calls of 5 s each (`ProviderHTTP`'s timeout: discovery when not yet done, the
    /// token endpoint, the keys to verify a new ID token), so the lease never lapses under a
    /// live refresh. Also how long a request waits for another instance's refresh.
    static let defaultLeaseLifetime: Duration = .seconds(20)

    let provider: any SingleSignOn
    let store: any ProviderSessionStore
    let clock: any WallClock
    let logger: Logger
    let leaseLifetime: Duration
    /// How often a request waiting on another instance's refresh looks at the session again.
    let pollInterval: Duration
    private let inFlight = Mutex<[SessionKey: Task<Outcome, Never>]>([:])

    init(
        provider: any SingleSignOn, store: any ProviderSessionStore, clock: any WallClock, logger: Logger,
        leaseLifetime: Duration = TokenRefresher.defaultLeaseLifetime, pollInterval: Duration = .milliseconds(100)
    ) {
        self.provider = provider
        self.store = store
        self.clock = clock
        self.logger = logger
        self.leaseLifetime = leaseLifetime
        self.pollInterval = pollInterval
    }

    /// The token to send for the session under `key`, from its private part `secrets` when
    /// known (the store is asked otherwise).
    func token(key: SessionKey, secrets known: JSONObject?, requestID: String) async -> Outcome {
        let secrets: JSONObject
        if let known {
            secrets = known
        } else {
            do {
                guard let read = try await store.secrets(key: key) else { return .sessionEnded }
                secrets = read
            } catch {
                return .storeFailed("\(error)")
            }
        }
        let (token, due) = provider.accessToken(in: secrets, now: clock.now())
        guard due else { return .token(token) }
        return await refreshOnce(key: key, requestID: requestID).value
    }

    /// The refresh under way for `key`, or a new one.
    private func refreshOnce(key: SessionKey, requestID: String) -> Task<Outcome, Never> {
        inFlight.withLock { tasks in
            if let running = tasks[key] { return running }
            let task = Task { await self.refresh(key: key, requestID: requestID) }
            tasks[key] = task
            return task
        }
    }

    private func refresh(key: SessionKey, requestID: String) async -> Outcome {
        defer { _ = inFlight.withLock { $0.removeValue(forKey: key) } }
        // Real time, as the store counts the lease's lifetime (the injected clock decides only
        // whether a token is due).
        let giveUp = ContinuousClock.now + leaseLifetime
        do {
            while true {
                if let lease = try await store.leaseRefresh(key: key, for: leaseLifetime) {
                    let outcome = await refresh(holding: lease, requestID: requestID)
                    do {
                        try await store.releaseRefresh(lease)
                    } catch {
                        // It lapses on its own within the lease's lifetime.
                        logger.warning("token refresh: could not release the refresh lease", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
                    }
                    return outcome
                }
                // Another instance is refreshing: its result, once it stored it.
                guard let secrets = try await store.secrets(key: key) else { return .sessionEnded }
                let (token, due) = provider.accessToken(in: secrets, now: clock.now())
                guard due else { return .token(token) }
                guard ContinuousClock.now < giveUp else {
                    logger.warning("token refresh: another instance's refresh did not finish", metadata: ["request_id": "\(requestID)"])
                    return .unavailable("another instance's refresh of the session did not finish within \(leaseLifetime)")
                }
                try? await Task.sleep(for: pollInterval)
            }
        } catch {
            return .storeFailed("\(error)")
        }
    }

    /// The refresh itself, under the lease.
    private func refresh(holding lease: RefreshLease, requestID: String) async -> Outcome {
        let key = lease.key
        do {
            // Read again under the lease: a refresh that just finished (here or on another
            // instance) may have made this one unnecessary, and its refresh token may have
            // replaced the one read before.
            guard let secrets = try await store.secrets(key: key) else { return .sessionEnded }
            let (token, due) = provider.accessToken(in: secrets, now: clock.now())
            guard due else { return .token(token) }
            switch await provider.refresh(secrets) {
            case .success(let renewed):
                guard try await store.replaceSecrets(key: key, with: renewed) else { return .sessionEnded }
                logger.info("access token refreshed", metadata: ["request_id": "\(requestID)"])
                return .token(provider.accessToken(in: renewed, now: clock.now()).token)
            case .failure(.refused(let why)):
                logger.warning("token refresh refused; session ended", metadata: ["request_id": "\(requestID)", "reason": "\(why)"])
                if try await store.revoke(key: key) { SessionMetrics.sessionsEnded(1, reason: .refreshFailed) }
                return .sessionEnded
            case .failure(.unavailable(let why)):
                logger.warning("token refresh: identity provider unavailable", metadata: ["request_id": "\(requestID)", "error": "\(why)"])
                return .unavailable(why)
            }
        } catch {
            return .storeFailed("\(error)")
        }
    }
}
