import HTTPTypes

/// The pending-login cookies of single sign-on: one per login (up to ``SignOnFlow/pendingSlots``
/// in a browser), on the session cookie's path, sealed by the provider implementation.
///
/// On the session cookie's path, not the callback's: a login start must see which slots the
/// browser holds, to give a new login a free one (found by an audit: with the callback's path
/// the start saw none, a counter shared by every browser chose the slot, and on a busy server
/// two tabs of one browser got the same one about once in 16, the first tab's login then
/// failing). The proxy takes them out of every request it forwards (``SessionCookies``).
extension SignOnFlow {
    /// How many pending-login cookies a browser can hold at once, so logins started in several
    /// tabs have cookies of their own and all complete, while logins started and never finished
    /// (or forced by another site's navigations) replace each other instead of piling up into a
    /// `Cookie` field over `max_header_bytes` (found by an audit: 90 of them made the callback
    /// 431 for ten minutes). 16 cookies are about 7 KB.
    static let pendingSlots = 16

    /// The slots of the pending logins the request's cookies hold (bit n: slot n).
    public func heldPendingSlots(in fields: HTTPFields) -> UInt32 {
        var held: UInt32 = 0
        let prefix = pendingName + "_"
        for field in fields where field.name == .cookie {
            for pair in field.value.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard trimmed.hasPrefix(prefix), let equals = trimmed.firstIndex(of: "="),
                    let slot = Int(trimmed[trimmed.index(trimmed.startIndex, offsetBy: prefix.count)..<equals]),
                    (0..<Self.pendingSlots).contains(slot)
                else { continue }
                held |= 1 << slot
            }
        }
        return held
    }

    /// The cookie name for a new pending login: the first slot the browser does not hold
    /// (`held`), or, when it holds them all, the next of a counter's turn (replacing one).
    func nextPendingCookieName(held: UInt32) -> String {
        let free = (0..<Self.pendingSlots).first { held & (1 << $0) == 0 }
        let slot = free ?? pendingSlot.wrappingAdd(1, ordering: .relaxed).oldValue & (Self.pendingSlots - 1)
        return pendingName + "_" + String(slot)
    }

    func pendingCookie(_ value: String, name: String, exchange: Exchange) -> String {
        "\(name)=\(value); Path=\(cookieSettings.path); Max-Age=600; HttpOnly; SameSite=Lax" + (securePending(exchange) ? "; Secure" : "")
    }

    func expiredPendingCookie(name: String, exchange: Exchange) -> String {
        "\(name)=; Path=\(cookieSettings.path); Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
            + (securePending(exchange) ? "; Secure" : "")
    }

    /// A callback's answer expires the pending login it used, and only that one: logins under
    /// way in other tabs (at most ``pendingSlots``, which bounds their size) still complete.
    func expirePendingCookies(_ response: inout LocalResponse, exchange: Exchange) {
        guard let name = exchange.pendingLoginCookie else { return }
        response.head.headerFields.append(HTTPField(name: .setCookie, value: expiredPendingCookie(name: name, exchange: exchange)))
    }

    func securePending(_ exchange: Exchange) -> Bool {
        let prefixed = pendingName.hasPrefix("__Host-") || pendingName.hasPrefix("__Secure-")
        switch cookieSettings.secure {
        case .always: return true
        case .never: return prefixed
        case .auto: return exchange.client.isSecure || prefixed
        }
    }

    /// The callback's pending login among the request's `Cookie` fields: the cookie whose sealed
    /// login holds the `state` in `target`'s query (each is opened to compare; there are at most
    /// ``pendingSlots``, and cookies named for a state prefix, set before slots, count too), or
    /// one named `pendingName` alone (set before logins had a cookie each). A callback with a
    /// state the browser did not start (a forged link) matches none of them and neither reads
    /// nor clears them.
    public func pendingCookie(in fields: HTTPFields, target: String) -> (name: String, value: String)? {
        let state = RequestPathQuery.value("state", in: target) ?? ""
        let now = clock.now()
        var legacy: (name: String, value: String)?
        for field in fields where field.name == .cookie {
            for pair in field.value.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard trimmed.hasPrefix(pendingName), let equals = trimmed.firstIndex(of: "=") else { continue }
                let name = String(trimmed[..<equals]), value = String(trimmed[trimmed.index(after: equals)...])
                if name == pendingName {
                    legacy = (name, value)
                } else if name.hasPrefix(pendingName + "_"), !state.isEmpty, provider.pendingLoginState(value, now: now) == state {
                    return (name, value)
                }
            }
        }
        return legacy
    }
}
