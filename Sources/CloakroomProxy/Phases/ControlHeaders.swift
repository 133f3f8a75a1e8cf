import CloakroomSessions
import HTTPTypes
import Logging

/// Parses the backend's session control headers into effects. Invalid values are logged and
/// ignored: the response still reaches the client, and no session changes.
enum ControlHeaders {
    static func effects(
        login: String?, update: String?, logout: String?, status: HTTPResponse.Status, exchange: Exchange, logger: Logger
    ) -> [SessionEffect] {
        let requestID = exchange.requestID
        if let login {
            guard exchange.endpoint == .login else {
                logger.warning("Session-Login ignored outside login.path", metadata: ["request_id": "\(requestID)"])
                return []
            }
            guard status.kind == .successful || status.kind == .redirection else {
                logger.warning("Session-Login ignored on a non-2xx/3xx response", metadata: ["request_id": "\(requestID)"])
                return []
            }
            guard case .object(let attributes)? = try? JSONValue(parsing: login),
                case .string(let sub)? = attributes["sub"], !sub.isEmpty
            else {
                logger.error("Session-Login is not a JSON object with a string \"sub\"", metadata: ["request_id": "\(requestID)"])
                return []
            }
            return [.login(attributes, replacing: exchange.presentedID?.key)]
        }
        guard let session = exchange.session, let key = exchange.presentedID?.key else {
            if update != nil || logout != nil {
                logger.warning("Session-Update/Session-Logout ignored: the request had no session", metadata: ["request_id": "\(requestID)"])
            }
            return []
        }
        var effects: [SessionEffect] = []
        if let update {
            if case .object? = try? JSONValue(parsing: update), let patch = try? JSONValue(parsing: update) {
                effects.append(.update(key, patch: patch))
            } else {
                logger.error("Session-Update is not a JSON object", metadata: ["request_id": "\(requestID)"])
            }
        }
        if let logout {
            switch logout.trimmingCharacters(in: .whitespaces).lowercased() {
            case "current": effects.append(.logoutCurrent(key))
            case "all": effects.append(.logoutAll(subject: session.subject))
            default: logger.error("Session-Logout must be \"current\" or \"all\"", metadata: ["request_id": "\(requestID)"])
            }
        }
        return effects
    }
}

import Foundation
