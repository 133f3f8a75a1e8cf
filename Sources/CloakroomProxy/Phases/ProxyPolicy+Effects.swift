import CloakroomSessions

// Phase 6: what the backend's control headers asked for, carried out in the store.
extension ProxyPolicy {
    /// Carries out the effects. Returns the `Set-Cookie` values to add (at most one: a login's
    /// new cookie wins over the deletion a logout in the same response asks for, since the
    /// login ends the presented session anyway), or the error to answer instead of the
    /// upstream's response when a login could not be stored.
    public func apply(_ effects: [SessionEffect], exchange: Exchange) async -> Result<[String], ProxyError> {
        var newCookie: String?
        var expire = false
        let context = sessionContext(for: exchange)
        for effect in effects {
            do {
                switch effect {
                case .login(let attributes, let replacing):
                    if let replacing, try await context.ending(.login).run({ try await store.revoke(key: replacing) }) {
                        SessionMetrics.sessionsEnded(1, reason: .login)
                    }
                    let id = SessionID.random()
                    let session = try await context.run { try await store.create(key: id.key, attributes: attributes) }
                    SessionMetrics.loggedIn()
                    newCookie = cookies.setCookie(for: id, secureTransport: exchange.client.isSecure)
                    logger.info("session created", metadata: ["request_id": "\(exchange.requestID)", "handle": "\(session.handle)", "sub": "\(session.subject)"])
                case .update(let key, let patch):
                    _ = try await store.update(key: key, patch: patch)
                case .logoutCurrent(let key):
                    if try await context.ending(.backend).run({ try await store.revoke(key: key) }) {
                        SessionMetrics.sessionsEnded(1, reason: .backend)
                    }
                    expire = true
                case .logoutAll, .logoutAllOfSession:
                    expire = true
                    guard let subject = try await subject(of: effect) else { break }
                    let count = try await context.ending(.backend).run { try await store.revokeAll(subject: subject) }
                    SessionMetrics.sessionsEnded(count, reason: .backend)
                    logger.info("sessions revoked by backend", metadata: ["request_id": "\(exchange.requestID)", "sub": "\(subject)", "count": "\(count)"])
                }
            } catch let error as SessionStoreError where error != .missingSubject && !error.isUnavailable {
                logger.error("backend control header rejected", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
            } catch {
                logger.error("session store failed applying control header", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
                // The session change the backend asked for did not happen: never let the response
                // pretend it did (a logout that left the session alive, a login without a session).
                return .failure(ProxyError(.storeUnavailable, "\(error)"))
            }
        }
        if let newCookie { return .success([newCookie]) }
        return .success(expire ? [cookies.expireCookie(secureTransport: exchange.client.isSecure)] : [])
    }

    /// The user a `Session-Logout: all` ends: named, or the owner of the presented session
    /// (`nil` when that session has ended meanwhile).
    private func subject(of effect: SessionEffect) async throws -> String? {
        switch effect {
        case .logoutAll(let subject): return subject
        case .logoutAllOfSession(let key): return try await store.lookup(key: key)?.subject
        default: return nil
        }
    }
}

extension SessionStoreError {
    var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}
