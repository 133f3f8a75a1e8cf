import CloakroomSessions
import HTTPTypes

/// The self-service page (`session.self_service`): a signed-in user lists their own sessions
/// and ends any of them, or all but the current one. Endings are reason `self`.
extension ProxyPolicy {
    /// Phase 3 for a signed-in user's request to the page: a path or method it does not serve
    /// is answered at once (404, 405); the rest needs the store (``selfService(_:)``).
    func authorizeSelfService(_ exchange: Exchange) -> Authorization {
        switch selfServiceRequest(exchange) {
        case .success: return .selfService
        case .failure(let error): return .respond(error.response(requestID: exchange.requestID))
        }
    }

    private func selfServiceRequest(_ exchange: Exchange) -> Result<SelfServiceRequest, ProxyError> {
        guard let page = configuration.session.selfService else { return .failure(ProxyError(.notFound)) }
        let path = String(exchange.target.prefix { $0 != "?" })
        return SelfServiceRequest.parse(page: page, path: path, method: exchange.method)
    }

    /// Lists or ends the user's sessions and answers: the page (browsers) or JSON for a list;
    /// 303 back to the page (browsers) or 204 for an ending. A handle that is not one of the
    /// user's live sessions is 404, whoever's it is. Ending the current session also expires
    /// the cookie, as a logout does.
    public func selfService(_ exchange: Exchange) async -> LocalResponse {
        guard let session = exchange.session, let page = configuration.session.selfService,
            case .success(let request) = selfServiceRequest(exchange)
        else { return ProxyError(.notFound).response(requestID: exchange.requestID) }
        do {
            return try await sessionContext(for: exchange, reason: .selfService).run { () async throws -> LocalResponse in
                let mine = try await store.sessions(subject: session.subject)
                switch request {
                case .list:
                    return exchange.acceptsHTML
                        ? SessionsPage.response(sessions: mine, current: session, page: page, requestID: exchange.requestID)
                        : SessionsPage.json(sessions: mine, current: session.handle, requestID: exchange.requestID)
                case .end(let handle):
                    guard mine.contains(where: { $0.handle == handle }) else {
                        return ProxyError(.notFound, "not one of the user's sessions").response(requestID: exchange.requestID)
                    }
                    let isCurrent = handle == session.handle
                    let ended: Bool
                    if isCurrent, let key = exchange.presentedID?.key {
                        ended = try await store.revoke(key: key)
                    } else {
                        ended = try await store.revoke(handle: handle)
                    }
                    if ended { SessionMetrics.sessionsEnded(1, reason: .selfService) }
                    return endedAnswer(exchange, page: page, expireCookie: isCurrent)
                case .endOthers:
                    var count = 0
                    for other in mine where other.handle != session.handle {
                        if try await store.revoke(handle: other.handle) { count += 1 }
                    }
                    SessionMetrics.sessionsEnded(count, reason: .selfService)
                    return endedAnswer(exchange, page: page, expireCookie: false)
                }
            }
        } catch {
            logger.error("session store failed on the self-service page", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
            return ProxyError(.storeUnavailable, "\(error)").response(requestID: exchange.requestID)
        }
    }

    /// 303 back to the page for browsers, else 204; with the deletion cookie when the current
    /// session ended.
    private func endedAnswer(_ exchange: Exchange, page: String, expireCookie: Bool) -> LocalResponse {
        var response = exchange.acceptsHTML
            ? LocalResponse.redirect(to: page, requestID: exchange.requestID)
            : LocalResponse.empty(status: .noContent, requestID: exchange.requestID)
        if expireCookie {
            response.head.headerFields.append(HTTPField(name: .setCookie, value: cookies.expireCookie(secureTransport: exchange.client.isSecure)))
        }
        return response
    }
}
