import Foundation
import CloakroomConfig
import CloakroomSessions
import HTTPTypes
import Logging

/// Parses the backend's session control headers into effects. Each header is judged on its own
/// terms, never by the others in the same response: `Session-Login` by the path and status,
/// `Session-Update` and `Session-Logout` by whether the request had a session. An invalid or
/// refused one is logged and ignored, and the others still apply: an ignored `Session-Login`
/// must not cancel the `Session-Logout` beside it, or the session the backend ended stays
/// valid. The response itself always reaches the client.
enum ControlHeaders {
    /// `login` and `updates`: each field of that name as the bytes the backend sent (JSON is
    /// parsed from them, so bytes that are not UTF-8 make it invalid: ``values(of:in:)``).
    static func effects(
        login: [[UInt8]], updates: [[UInt8]], logout: String?, status: HTTPResponse.Status, exchange: Exchange, logger: Logger
    ) -> [SessionEffect] {
        var effects: [SessionEffect] = []
        // The presented session's changes first, then the login that replaces it: a login's
        // cookie is the one the client keeps (``ProxyPolicy/apply(_:exchange:)``).
        if !updates.isEmpty || logout != nil {
            effects += sessionEffects(updates: updates, logout: logout, exchange: exchange, logger: logger)
        }
        if !login.isEmpty, let effect = loginEffect(login, status: status, exchange: exchange, logger: logger) {
            effects.append(effect)
        }
        return effects
    }

    /// Each field named `name`, as the bytes the backend sent: `HTTPField.value` reads bytes
    /// that are not UTF-8 as U+FFFD, and a backend writing Latin-1 (Python's `http.server`
    /// does) would then give `Müller` and `Måller` one name, one user (found by an audit).
    static func values(of name: HTTPField.Name, in fields: HTTPFields) -> [[UInt8]] {
        fields.filter { $0.name == name }.map { $0.withUnsafeBytesOfValue { Array($0) } }
    }

    /// `Session-Login`: honoured on `login.path` with a 2xx or 3xx status, when it is one field
    /// holding a JSON object with a non-empty string `sub`.
    static func loginEffect(_ login: [[UInt8]], status: HTTPResponse.Status, exchange: Exchange, logger: Logger) -> SessionEffect? {
        let requestID = exchange.requestID
        guard exchange.endpoint == .login else {
            logger.warning("Session-Login ignored outside login.path", metadata: ["request_id": "\(requestID)"])
            return nil
        }
        guard status.kind == .successful || status.kind == .redirection else {
            logger.warning("Session-Login ignored on a non-2xx/3xx response", metadata: ["request_id": "\(requestID)"])
            return nil
        }
        guard login.count == 1, case .object(let attributes)? = try? JSONValue(parsingUTF8: login[0]),
            case .string(let sub)? = attributes["sub"], !sub.isEmpty, JSONValue.string(sub).headerValue != nil
        else {
            // A `sub` with a control character could never be sent as `X-User-Id`: its session
            // would reach required routes with no user (found by an audit).
            logger.error(
                "Session-Login is not a JSON object (in UTF-8) with a string \"sub\" (without control characters)",
                metadata: ["request_id": "\(requestID)"])
            return nil
        }
        return .login(attributes, replacing: exchange.presentedID?.key)
    }

    /// `Session-Update` and `Session-Logout`: honoured on any route when the request had a
    /// live session, each when its own value is valid. On an `auth: none` route the session is
    /// not looked up and its backend is told nothing of the user: a `Session-Logout` there acts
    /// on the session of the correctly signed cookie presented, when it is carried out
    /// (nothing, if it has ended), but a `Session-Update` is ignored. A backend that never
    /// learns who the user is must not grant them anything: found by an audit, a public
    /// route's backend raised a reader's `roles` to `admin`, which other routes' `allow` trusted.
    ///
    /// `updates`: every `Session-Update` field's value, in the order received. Each is a merge
    /// patch of its own, applied in that order (a middleware and a handler may each send one;
    /// joined with a comma they were no JSON at all, and both were dropped: found by an audit).
    /// One that is not a JSON object is logged and ignored, the others still apply; one that
    /// would change or remove `sub` is refused by the store, alone (``ProxyPolicy/apply(_:exchange:)``).
    static func sessionEffects(updates: [[UInt8]], logout: String?, exchange: Exchange, logger: Logger) -> [SessionEffect] {
        let requestID = exchange.requestID
        let notLookedUp = exchange.endpoint == .proxied && exchange.route?.auth == Route.Auth.none
        guard let key = exchange.presentedID?.key, exchange.session != nil || notLookedUp else {
            logger.warning("Session-Update/Session-Logout ignored: the request had no session", metadata: ["request_id": "\(requestID)"])
            return []
        }
        let session = exchange.session
        var effects: [SessionEffect] = []
        if notLookedUp && !updates.isEmpty {
            logger.warning("Session-Update ignored: an auth: none route has no session", metadata: ["request_id": "\(requestID)"])
        }
        for update in updates where !notLookedUp {
            if let patch = try? JSONValue(parsingUTF8: update), case .object = patch {
                effects.append(.update(key, patch: patch))
            } else {
                logger.error("Session-Update is not a JSON object (in UTF-8)", metadata: ["request_id": "\(requestID)"])
            }
        }
        if let logout {
            // Several fields arrive joined with commas (a middleware and a handler may both
            // add one): `current` repeated is `current`, and `all` anywhere is `all`, the
            // stronger (found by an audit: duplicates were dropped, the session kept).
            let values = logout.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if values.contains("all") && values.allSatisfy({ $0 == "all" || $0 == "current" }) {
                effects.append(session.map { .logoutAll(subject: $0.subject) } ?? .logoutAllOfSession(key))
            } else if !values.isEmpty && values.allSatisfy({ $0 == "current" }) {
                effects.append(.logoutCurrent(key))
            } else {
                logger.error("Session-Logout must be \"current\" or \"all\"", metadata: ["request_id": "\(requestID)"])
            }
        }
        return effects
    }
}

extension SessionEffect {
    /// Whether carrying out this effect sets or deletes the session cookie: the response then
    /// must not be stored by any cache (``ProxyPolicy/filterResponse(_:exchange:)``).
    var changesCookie: Bool {
        switch self {
        case .login, .logoutCurrent, .logoutAll, .logoutAllOfSession: return true
        case .update: return false
        }
    }
}
