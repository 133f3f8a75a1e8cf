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
    let logger: Logger

    /// `logger` writes JSON lines (``JSONLinesLogHandler``); `CLOAKROOM_AUDIT_LOG=off` means
    /// no audit log at all, so no store builds events.
    public init(logger: Logger) {
        self.logger = logger
    }

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
            logger.info("session", metadata: Self.metadata(for: event, context: context))
        }
    }

    /// One line's fields beside `time`, `level` and `msg`.
    static func metadata(for event: SessionAuditEvent, context: SessionRequestContext?) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "event": .string(event.kind == .created ? "created" : "ended"),
            "handle": .string(event.handle),
            "sub": .string(event.subject),
        ]
        switch event.credential {
        case .session:
            // Sessions' lines keep the fields the SPEC lists, and no more.
            metadata["client"] = .string(event.client)
        case .apiKey:
            // A key has no client of its own (it is used from wherever its holder runs).
            metadata["kind"] = .string(event.credential.rawValue)
        }
        if event.kind != .created {
            // A revoke outside any context that names a reason cannot happen through the proxy
            // (every store call of a request or an admin call runs in one); said plainly if it does.
            metadata["reason"] = .string(event.reason(in: context)?.rawValue ?? "unattributed")
        }
        if event.isCausedByRequest, let requestID = context?.requestID {
            metadata["request_id"] = .string(requestID)
        }
        return metadata
    }
}
