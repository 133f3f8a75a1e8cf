import CloakroomSessions
import Logging
import Synchronization

/// The access token a forwarded request carries with `pass_access_token`, refreshed first when
/// due — one refresh at a time per session in this process: requests that find a refresh under
/// way (on any HTTP/1.1 connection or HTTP/2 stream) wait for it and use its result.
///
/// A refresh the provider refuses ends the session (`refresh_failed`); one that cannot reach
/// the provider leaves it as it is and fails only the requests that needed it (502).
final class TokenRefresher: Sendable {
    enum Outcome: Sendable {
        case token(String?)
        /// The session ended (refused refresh) or is gone.
        case sessionEnded
        /// The provider could not be reached (502).
        case unavailable(String)
        /// The session store failed (503).
        case storeFailed(String)
    }

    let provider: any SingleSignOn
    let store: any ProviderSessionStore
    let clock: any WallClock
    let logger: Logger
    private let inFlight = Mutex<[SessionKey: Task<Outcome, Never>]>([:])

    init(provider: any SingleSignOn, store: any ProviderSessionStore, clock: any WallClock, logger: Logger) {
        self.provider = provider
        self.store = store
        self.clock = clock
        self.logger = logger
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
        do {
            // Read again: a refresh that just finished (here or on another instance) may have
            // made this one unnecessary.
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
