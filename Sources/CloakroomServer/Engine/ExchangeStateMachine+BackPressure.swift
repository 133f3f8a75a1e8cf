import CloakroomProxy

extension ExchangeStateMachine {
    /// Whether more of the request should be read now: not while the session, an upstream
    /// connection or the store is awaited, nor while the upstream cannot take more body.
    func readsRequest(upstreamWritable: Bool) -> Bool {
        switch state {
        case .admitting, .connecting, .awaitingLocalAnswer: return false
        case .forwarding, .applyingEffects, .streaming, .upgrading: return requestEnded || upstreamWritable
        case .collectingLocalBody, .finished: return true
        }
    }

    /// Whether the upstream's response should be read now (the head is held meanwhile).
    func readsResponse(downstreamWritable: Bool) -> Bool {
        if case .applyingEffects = state { return false }
        return downstreamWritable
    }
}

extension ExchangeOutcome {
    /// The outcome of an exchange the proxy answers with this error.
    init(answering code: ProxyError.Code) {
        switch code {
        case .upstreamUnavailable, .identityProviderUnavailable: self = .upstreamFailed
        case .upstreamTimeout, .headerTimeout: self = .timeout
        case .badRequest, .headersTooLarge, .bodyTooLarge, .storeUnavailable, .internalError: self = .error
        case .notFound, .methodNotAllowed, .unauthenticated, .csrf, .forbidden, .tooManyAttempts, .loginFailed: self = .complete
        }
    }
}
