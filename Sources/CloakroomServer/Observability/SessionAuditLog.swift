import CloakroomSessions
import Logging

/// The audit log (SPEC "Session governance"): one JSON line per session the proxy creates or
/// ends and per ending it observes, on standard output beside the access log.
///
/// Each line has `"msg":"session"`, `event` (`created` or `ended`), `reason` for an ending,
/// the `handle`, `sub` and, for a session, `client` (where it was created); an API key's line
/// has `"kind":"api_key"` instead of `client` (a key is created, revoked by an admin alone or
/// with the user's sessions, or found expired with reason `absolute`), `time` (RFC 3339, UTC,
/// milliseconds, from ``JSONLinesLogHandler``) and, when a request caused it, that request's
/// `request_id`. Never a session ID, a cookie or a token: events carry none.
///
/// The store calls ``record(_:)`` in the task of the operation that produced the events, so
/// the request's ``SessionRequestContext`` is there to say why a revoked session ended and
/// which request did it.
public struct SessionAuditLog: Sendable {
    enum Sink: Sendable {
        case logger(Logger)
        /// Straight to standard output as ``JSONLinesLogHandler`` writes lines, without building
        /// a `Logger.Metadata` dictionary per line (two lines per governed login).
        case standardOutput
    }

    let sink: Sink

    /// `logger` writes JSON lines (``JSONLinesLogHandler``); `CLOAKROOM_AUDIT_LOG=off` means
    /// no audit log at all, so no store builds events.
    public init(logger: Logger) {
        self.sink = .logger(logger)
    }

    private init(sink: Sink) { self.sink = sink }

    /// The server's audit log: JSON lines on standard output, beside the access log.
    public static func standardOutput() -> SessionAuditLog { SessionAuditLog(sink: .standardOutput) }

    /// Starts reporting what `store` creates and ends; a store that cannot report (none today)
    /// is left as it is.
    func attach(to store: any SessionStore) {
        guard let source = store as? any SessionAuditSource else { return }
        let log = self
        source.observeAudit { events in log.record(events) }
    }

    func record(_ events: [SessionAuditEvent]) {
        let context = SessionRequestContext.current
        for event in events {
            switch sink {
            case .logger(let logger): logger.info("session", metadata: Self.metadata(for: event, context: context))
            case .standardOutput: JSONLinesLogHandler.writeLine(level: .info, message: "session", fields: Self.fields(for: event, context: context))
            }
        }
    }

    /// One line's fields beside `time`, `level` and `msg`.
    static func metadata(for event: SessionAuditEvent, context: SessionRequestContext?) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        for (key, value) in fields(for: event, context: context) { metadata[key] = .string(value) }
        return metadata
    }

    /// ``metadata(for:context:)`` as the line orders it: by key.
    static func fields(for event: SessionAuditEvent, context: SessionRequestContext?) -> [(String, String)] {
        var fields: [(String, String)] = []
        fields.reserveCapacity(7)
        switch event.credential {
        case .session:
            fields.append(("client", event.client))
        case .apiKey:
            // A key has no client of its own (it is used from wherever its holder runs): its
            // lines name the client of the request that created or ended it (an admin API
            // call), empty when time ended it, so every line has the fields SPEC lists.
            fields.append(("client", event.isCausedByRequest ? context?.origin.client ?? "" : ""))
        }
        fields.append(("event", event.kind == .created ? "created" : "ended"))
        fields.append(("handle", event.handle))
        if event.credential == .apiKey {
            fields.append(("kind", event.credential.rawValue))
        }
        if event.kind != .created {
            // A revoke outside any context that names a reason cannot happen through the proxy
            // (every store call of a request or an admin call runs in one); said plainly if it does.
            fields.append(("reason", event.reason(in: context)?.rawValue ?? "unattributed"))
        }
        if event.isCausedByRequest, let requestID = context?.requestID {
            fields.append(("request_id", requestID))
        }
        fields.append(("sub", event.subject))
        return fields
    }
}
