import CloakroomProxy
import HTTPTypes
import Logging
import NIOCore

/// Where every exchange is counted and logged, once, however it ended
/// (``ExchangeStateMachine/Finish``): `cloakroom_requests_total{route,status,outcome}` and one
/// access log line. Never the session ID, a cookie, or the query string (it may carry tokens).
struct ExchangeRecorder: Sendable {
    let metrics: RequestMetrics
    /// One JSON line per exchange, or `nil`.
    let accessLog: Logger?

    struct Entry {
        var requestID: String
        var method: HTTPRequest.Method
        /// The policy's view, once phase 1 made it (nil for a request that could not be parsed).
        var exchange: Exchange?
        /// The status sent, or the one that would have been (499 when the client left first).
        var status: Int
        /// Response body bytes written.
        var bytes: Int
        var outcome: ExchangeOutcome
        var startedAt: NIODeadline
        var client: ClientInfo
    }

    func record(_ entry: Entry, memo: inout RequestMetrics.Memo) {
        // Read through the entry: a copy of the exchange costs a retain per field.
        let route = entry.exchange?.route?.path ?? (entry.exchange?.endpoint == .logout ? "logout" : "none")
        metrics.answered(route: route, status: entry.status, outcome: entry.outcome, memo: &memo)
        guard let accessLog else { return }
        let exchange = entry.exchange
        var metadata: Logger.Metadata = [
            "request_id": .string(entry.requestID),
            "method": .string(entry.method.rawValue),
            "path": .string(exchange.map { String($0.target.prefix { $0 != "?" }) } ?? ""),
            "status": .stringConvertible(entry.status),
            "outcome": .string(entry.outcome.rawValue),
            "bytes": .stringConvertible(entry.bytes),
            "duration_ms": .stringConvertible(Double((NIODeadline.now() - entry.startedAt).nanoseconds / 1000) / 1000),
            "client": .string(entry.client.address),
        ]
        if let upstream = exchange?.route?.upstream, exchange?.endpoint != .logout { metadata["upstream"] = .string(upstream) }
        if let session = exchange?.session {
            metadata["session"] = .string(session.handle)
            metadata["sub"] = .string(session.subject)
        }
        accessLog.info("request", metadata: metadata)
    }
}
