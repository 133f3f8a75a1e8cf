import CloakroomProxy
import NIOCore

// `response_timeout`: from the end of the request sent upstream to the response head. An
// HTTP/1.1 connection has a lazy timer of its own; HTTP/2 streams share their connection's.
extension HTTP1ProxyHandler {
    func startResponseTimer() {
        guard current?.upstream != nil else { return }
        let timeout = current?.pool?.targets.settings.responseTimeout ?? .seconds(30)
        let deadline = NIODeadline.now() + timeout.timeAmount
        if let streamDeadlines {
            streamDeadlines.arm(ObjectIdentifier(self), at: deadline) { [self] in responseTimedOut() }
        } else {
            responseTimer.arm(at: deadline, on: context.eventLoop, responseTimerFired)
        }
    }

    /// The response head arrived, or the exchange ended otherwise.
    func disarmResponseTimer() {
        responseTimer.disarm()
        streamDeadlines?.disarm(ObjectIdentifier(self))
    }

    /// The handler is done with timers (closed, or became a tunnel).
    func cancelResponseTimer() {
        responseTimer.cancel()
        streamDeadlines?.disarm(ObjectIdentifier(self))
    }

    fileprivate func responseTimerFired() {
        guard responseTimer.fired(on: context.eventLoop, responseTimerFired) else { return }
        responseTimedOut()
    }

    fileprivate func responseTimedOut() {
        guard state == .forwarding else { return }
        current?.upstream?.abort()
        current?.upstream = nil
        fail(ProxyError(.upstreamTimeout, "no response head within response_timeout"), requestID: current?.exchange?.requestID)
    }
}
