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

    /// One exchange's record; the strings are read from the exchange by the caller without
    /// copying it (a copy of an exchange costs a retain per field).
    struct Entry {
        var requestID: String
        var method: HTTPRequest.Method
        /// The route's path (`none` before routing, `logout` for the logout endpoint).
        var route: String
        /// The normalized path without its query, empty for a request that could not be parsed.
        var path: String
        var upstream: String?
        /// The session's handle and subject (an API key's, or a bearer token's stand-in handle).
        var session: (handle: String, subject: String)?
        /// `api_key` or `bearer` when a machine credential signed the request in.
        var credential: String? = nil
        /// The status sent, or the one that would have been (499 when the client left first).
        var status: Int
        /// Response body bytes written.
        var bytes: Int
        var outcome: ExchangeOutcome
        var startedAt: NIODeadline
        var client: String
        /// The W3C trace ID the request carried upstream.
        var traceID: String
    }

    func record(_ entry: Entry, memo: inout RequestMetrics.Memo) {
        metrics.answered(route: entry.route, status: entry.status, outcome: entry.outcome, memo: &memo)
        guard let accessLog else { return }
        var metadata: Logger.Metadata = [
            "request_id": .string(entry.requestID),
            "method": .string(entry.method.rawValue),
            "path": .string(entry.path),
            "status": .stringConvertible(entry.status),
            "outcome": .string(entry.outcome.rawValue),
            "bytes": .stringConvertible(entry.bytes),
            "duration_ms": .stringConvertible(Double((NIODeadline.now() - entry.startedAt).nanoseconds / 1000) / 1000),
            "client": .string(entry.client),
            "trace_id": .string(entry.traceID),
        ]
        if let upstream = entry.upstream { metadata["upstream"] = .string(upstream) }
        if let session = entry.session {
            metadata["session"] = .string(session.handle)
            metadata["sub"] = .string(session.subject)
            if let credential = entry.credential { metadata["credential"] = .string(credential) }
        }
        accessLog.info("request", metadata: metadata)
    }
}
