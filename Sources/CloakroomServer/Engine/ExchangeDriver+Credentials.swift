import CloakroomProxy
import CloakroomSessions
import HTTPTypes
import NIOCore

// Phase 2 for machine clients: the presented credential is looked up in place of a session.
extension ExchangeDriver {
    /// An API key, at once when the store can answer without I/O (memory and file stores),
    /// else off the event loop like an asynchronous session lookup. What is found stands in
    /// for the session (``APIKey/asSession``); nothing found is a refused credential.
    func resolveCredential(request: consuming HTTPRequest, exchange: consuming Exchange) {
        switch exchange.credential {
        case .apiKey(let key)?:
            if let immediate = policy.immediateAPIKeys {
                do {
                    credentialResolved(try immediate.lookupKeyNow(key: key)?.asSession, exchange: &exchange)
                } catch {
                    self.exchange = exchange
                    return fail(policy.lookupFailed(error, exchange: exchange))
                }
                return authorize(request: request, exchange: exchange)
            }
            guard policy.apiKeys != nil else {
                exchange.credentialRefused = true
                return authorize(request: request, exchange: exchange)
            }
            self.exchange = exchange
            let request = copy request, exchange = copy exchange
            awaitStore({ policy -> Result<Session?, any Error> in
                do { return .success(try await policy.apiKeys?.lookupKey(key: key)?.asSession) } catch { return .failure(error) }
            }) { driver, result in
                driver.asyncCredentialResolved(result, request: request, exchange: exchange)
            }
        case .bearer(let token)?:
            resolveBearer(token, request: request, exchange: exchange)
        case .unacceptable?, nil:
            authorize(request: request, exchange: exchange)
        }
    }

    private func credentialResolved(_ identity: Session?, exchange: inout Exchange) {
        exchange.session = identity
        exchange.credentialRefused = identity == nil
    }

    func asyncCredentialResolved(_ result: Result<Session?, any Error>, request: HTTPRequest, exchange: Exchange) {
        guard case .admitting = machine.state else { return }
        switch result {
        case .success(let identity):
            var exchange = exchange
            credentialResolved(identity, exchange: &exchange)
            authorize(request: request, exchange: exchange)
        case .failure(let error):
            fail(policy.lookupFailed(error, exchange: exchange))
        }
        transport.resumeReading()
    }
}

extension ExchangeDriver {
    /// An identity provider's token: answered from the provider's cache at once (a token seen
    /// before), else verified off the event loop (a signature check, maybe a key fetch).
    func resolveBearer(_ token: String, request: consuming HTTPRequest, exchange: consuming Exchange) {
        if let verdict = policy.bearerVerdictNow(token, memo: connection.bearerMemo) {
            if let error = policy.admitBearer(verdict, exchange: &exchange) {
                self.exchange = exchange
                return fail(error)
            }
            return authorize(request: request, exchange: exchange)
        }
        self.exchange = exchange
        let request = copy request, exchange = copy exchange
        awaitStore({ policy in await policy.verifyBearer(token) }) { driver, verdict in
            guard case .admitting = driver.machine.state else { return }
            var exchange = exchange
            if case .valid(let identity) = verdict {
                driver.connection.bearerMemo.remember(token, identity, owner: ObjectIdentifier(driver.policy))
            }
            if let error = driver.policy.admitBearer(verdict, exchange: &exchange) {
                driver.fail(error)
            } else {
                driver.authorize(request: request, exchange: exchange)
            }
            driver.transport.resumeReading()
        }
    }
}
