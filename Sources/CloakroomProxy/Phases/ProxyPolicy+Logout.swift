import CloakroomSessions
import HTTPTypes

/// The logout endpoint, and the small request readings the phases share.
extension ProxyPolicy {
    // MARK: Logout endpoint

    /// Ends the presented session and answers: 303 to `logout.redirect` for browsers, else 204.
    public func logout(_ exchange: Exchange) async -> LocalResponse {
        // Read before the session ends: the ID token is the end-session request's hint.
        let providerSecrets = await signOn?.secretsBeforeLogout(exchange)
        if let key = exchange.presentedID?.key {
            do {
                if try await sessionContext(for: exchange, reason: .logout).run({ try await store.revoke(key: key) }) {
                    SessionMetrics.sessionsEnded(1, reason: .logout)
                }
            } catch {
                logger.error("session store failed during logout", metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"])
                return ProxyError(.storeUnavailable, "\(error)").response(requestID: exchange.requestID)
            }
        }
        let providerLogout = exchange.acceptsHTML ? signOn?.endSessionLocation(secrets: providerSecrets) : nil
        var response = exchange.acceptsHTML
            ? LocalResponse.redirect(to: providerLogout ?? configuration.logout.redirect, requestID: exchange.requestID)
            : LocalResponse.empty(status: .noContent, requestID: exchange.requestID)
        response.head.headerFields.append(
            HTTPField(name: .setCookie, value: cookies.expireCookie(secureTransport: exchange.client.isSecure)))
        return response
    }

    /// Whether an `Accept` value is a browser's (``BrowserAccept``): the page or the redirect
    /// rather than JSON.
    static func acceptsHTML(_ accept: String) -> Bool {
        BrowserAccept.isBrowser(accept)
    }

    static func percentEncodeQueryValue(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }
}
