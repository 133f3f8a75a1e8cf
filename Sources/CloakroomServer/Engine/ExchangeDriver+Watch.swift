import CloakroomProxy
import CloakroomSessions
import NIOCore

// What outlives a read batch: long responses and tunnels, cut when their session ends.
extension ExchangeDriver {
    /// A response still streaming after a whole read batch (server-sent events, a download, a
    /// long poll) is watched, so that it is cut when its session ends: the connection closes
    /// (HTTP/1.1) or the stream is reset (HTTP/2). Responses that finish within one read batch,
    /// nearly all of them, never touch the watch.
    ///
    /// One still streaming ``sessionEndGrace`` after the ending is cut; one that ends before
    /// is delivered whole (found by an audit: ordinary responses whose body came in a second
    /// read were cut to a head alone when a logout raced them).
    func watchLongResponse() {
        guard let session = exchange?.session, let (key, isAPIKey) = exchange?.watchedKey else { return }
        let bound = NIOLoopBound(self, eventLoop: transport.eventLoop)
        watchToken = runtime.watch.watch(key: key, subject: session.subject, isAPIKey: isAPIKey, on: transport.eventLoop) {
            let driver = bound.value
            driver.watchToken = nil
            driver.transport.eventLoop.assumeIsolated().scheduleTask(in: Self.sessionEndGrace) {
                let action = driver.machine.sessionEnded()
                guard case .abort = action else { return }
                driver.logger.info("session ended during a response: closing", metadata: ["request_id": "\(driver.requestID)"])
                driver.perform(action)
            }
        }
    }

    /// How long a response in flight when its session ends may take to finish.
    static let sessionEndGrace = TimeAmount.milliseconds(500)

    func unwatchLongResponse() {
        guard let token = watchToken else { return }
        watchToken = nil
        runtime.watch.unwatch(token, on: transport.eventLoop)
    }

    /// The 101 ended: both connections become a tunnel (the transport's work), watched so that
    /// it ends with its session.
    func switchToTunnel(_ finish: ExchangeStateMachine.Finish) {
        guard let upstream, let exchange, let head = upgradeHead, let upgrade else { return }
        self.upstream = nil
        responseDeadlineDisarm()
        ended(finish)
        do {
            try transport.switchToTunnel(head: head, upstream: upstream, exchange: exchange, upgrade: upgrade)
        } catch {
            logger.warning("could not switch to a tunnel", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            upstream.close()
            transport.abort()
        }
    }
}

extension Exchange {
    /// What a long response or a tunnel of this exchange is watched by: the session's store key,
    /// or the API key's (`true`). A provider's bearer token is not watched: nothing ends it
    /// before its `exp`.
    var watchedKey: (SessionKey, Bool)? {
        if case .apiKey(let key)? = credential { return (key, true) }
        return presentedID.map { ($0.key, false) }
    }
}
