import CloakroomConfig
import CloakroomSessions
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// Reads the session cookie from a request and writes `Set-Cookie` values for it.
///
/// Reading also removes the proxy's own cookie from the `Cookie` header (other cookies pass
/// upstream untouched), so backends never see a session ID.
///
/// A class, immutable: handed to every request, a reference costs one retain where a copy of
/// the struct cost one per field.
public final class SessionCookies: Sendable {
    public let name: String
    /// The single sign-on pending-login cookies' name: the session cookie's with `_oidc` (a
    /// `__Host-` prefix made `__Secure-`, see ``SignOnFlow``), each login's followed by `_` and
    /// a slot. Also the proxy's own: ``take(from:memo:owner:)`` never forwards them.
    public let pendingLoginName: String
    private let codec: SessionCookieCodec
    private let attributes: (secure: String, insecure: String)

    public init(settings: CookieSettings, codec: SessionCookieCodec, maxAge: Duration) {
        self.name = settings.name
        self.pendingLoginName = (name.hasPrefix("__Host-") ? "__Secure-" + name.dropFirst(7) : name) + "_oidc"
        self.codec = codec
        var common = "; Path=\(settings.path)"
        if let domain = settings.domain, !settings.name.hasPrefix("__Host-") { common += "; Domain=\(domain)" }
        let sameSite: String
        switch settings.sameSite {
        case .strict: sameSite = "Strict"
        case .lax: sameSite = "Lax"
        case .none: sameSite = "None"
        }
        // Browsers drop a SameSite=None cookie without Secure, as they do a prefixed one: with
        // `secure: auto` on plain HTTP the session would silently never stick (SPEC: "none
        // requires secure"; the loader refuses `secure: false` with it).
        let forcedSecure = settings.name.hasPrefix("__Host-") || settings.name.hasPrefix("__Secure-") || settings.sameSite == .none
        let secureWhenTLS: Bool, secureWhenPlain: Bool
        switch settings.secure {
        case .auto: (secureWhenTLS, secureWhenPlain) = (true, forcedSecure)
        case .always: (secureWhenTLS, secureWhenPlain) = (true, true)
        case .never: (secureWhenTLS, secureWhenPlain) = (forcedSecure, forcedSecure)
        }
        let tail = "; HttpOnly; SameSite=\(sameSite)"
        attributes = (
            secure: common + (secureWhenTLS ? "; Secure" : "") + tail,
            insecure: common + (secureWhenPlain ? "; Secure" : "") + tail
        )
        // Whole seconds, rounded up: a fraction left out would make `absolute_timeout: 999ms`
        // a `Max-Age=0`, the deletion form (found by an audit).
        let (seconds, attoseconds) = maxAge.components
        self.maxAgeSeconds = max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }

    private let maxAgeSeconds: Int

    /// The first correctly signed session ID among the request's cookies, and the `Cookie`
    /// header rewritten without any cookie of ours (valid or not), pending-login cookies
    /// included (browsers send those below the callback's path too).
    ///
    /// With a `memo` (one per connection) and the `owner` that verifies (the policy), a cookie
    /// value equal to the last one verified by the same owner is not verified again: equal
    /// bytes, same keys, same answer.
    public func take(from fields: inout HTTPFields, memo: VerifiedCookieMemo? = nil, owner: ObjectIdentifier? = nil) -> SessionID? {
        var cookieFields = 0
        var onlyIndex = fields.startIndex
        for index in fields.indices where fields[index].name == .cookie {
            cookieFields += 1
            onlyIndex = index
        }
        guard cookieFields > 0 else { return nil }
        // The common case, one field holding our cookie alone: no splitting, no rejoining, and
        // the field removed in place.
        if cookieFields == 1, var ours = Self.soleValue(of: fields[onlyIndex].value, named: name) {
            fields.remove(at: onlyIndex)
            guard let memo, let owner else { return codec.decode(ours) }
            return ours.withUTF8 { verified(UnsafeRawBufferPointer($0), memo: memo, owner: owner) }
        }
        var found: SessionID?
        var sawOurs = false
        var kept: [Substring] = []
        for value in fields[values: .cookie] {
            for pair in value.split(separator: ";") {
                var trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
                while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
                if let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == name {
                    sawOurs = true
                    if found == nil { found = codec.decode(trimmed[trimmed.index(after: eq)...]) }
                } else if let eq = trimmed.firstIndex(of: "="), Self.isName(trimmed[..<eq], name) || isPendingLogin(trimmed[..<eq]) {
                    // `name = value`: no browser writes blanks around `=`, and it is no session
                    // here, but a lenient backend parser would read it as ours: never forwarded.
                    sawOurs = true
                } else if !trimmed.isEmpty {
                    kept.append(trimmed)
                }
            }
        }
        guard sawOurs else { return nil }
        fields[.cookie] = nil
        if !kept.isEmpty { fields[.cookie] = kept.joined(separator: "; ") }
        return found
    }

    /// Whether `candidate` names a pending-login cookie: ``pendingLoginName``, alone or with `_`
    /// and a suffix.
    private func isPendingLogin(_ candidate: Substring) -> Bool {
        guard candidate.hasPrefix(pendingLoginName) else { return false }
        let rest = candidate.dropFirst(pendingLoginName.count)
        return rest.allSatisfy { $0 == " " || $0 == "\t" } || rest.first == "_"
    }

    /// Whether `candidate` is `name` followed by blanks.
    private static func isName(_ candidate: Substring, _ name: String) -> Bool {
        candidate.hasPrefix(name) && candidate.dropFirst(name.count).allSatisfy { $0 == " " || $0 == "\t" }
    }

    /// The value when `header` is exactly `name=value` (surrounding blanks allowed), else `nil`.
    static func soleValue(of header: String, named name: String) -> Substring? {
        let bounds = header.utf8.withContiguousStorageIfAvailable { bytes in
            soleValue(in: UnsafeRawBufferPointer(bytes), named: name)
        }
        // Bridged strings have no contiguous storage: take the general path.
        guard let found = bounds, let range = found else { return nil }
        let utf8 = header.utf8
        return header[utf8.index(utf8.startIndex, offsetBy: range.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: range.upperBound)]
    }

    /// Where the value is when the `Cookie` value `bytes` is exactly `name=value` (surrounding
    /// blanks allowed), else `nil`. This runs for every request that carries a cookie.
    static func soleValue(in bytes: UnsafeRawBufferPointer, named name: String) -> Range<Int>? {
        var start = 0, end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        var cursor = start
        for byte in name.utf8 {
            guard cursor < end, bytes[cursor] == byte else { return nil }
            cursor += 1
        }
        guard cursor < end, bytes[cursor] == UInt8(ascii: "=") else { return nil }
        cursor += 1
        for i in cursor..<end where bytes[i] == UInt8(ascii: ";") { return nil }
        return cursor..<end
    }

    /// The session cookie from the bytes of a request's only `Cookie` value, when they hold our
    /// cookie alone (``take(from:memo:owner:)``'s common case, without making the value a
    /// field): ``PresentedCookie/taken(_:)`` with the ID, or `nil` for a bad signature. `nil`
    /// when the bytes hold anything else, which the fields path must split.
    public func takeSole(_ value: UnsafeRawBufferPointer, memo: VerifiedCookieMemo, owner: ObjectIdentifier) -> PresentedCookie? {
        guard let range = Self.soleValue(in: value, named: name) else { return nil }
        return .taken(verified(UnsafeRawBufferPointer(rebasing: value[range]), memo: memo, owner: owner))
    }

    /// Our cookie's value verified, or the memo's answer when it holds the same bytes.
    private func verified(_ ours: UnsafeRawBufferPointer, memo: VerifiedCookieMemo, owner: ObjectIdentifier) -> SessionID? {
        if memo.owner == owner, memo.holds(ours) { return memo.id }
        let text = String(decoding: ours, as: UTF8.self)
        let id = codec.decode(text[...])
        (memo.owner, memo.value, memo.id) = (owner, text, id)
        return id
    }

    /// `Set-Cookie` for a new session.
    public func setCookie(for id: SessionID, secureTransport: Bool) -> String {
        "\(name)=\(codec.encode(id)); Max-Age=\(maxAgeSeconds)" + (secureTransport ? attributes.secure : attributes.insecure)
    }

    /// `name=value` as a client sends it back (for the admin API and tests).
    public func cookiePair(for id: SessionID) -> String { "\(name)=\(codec.encode(id))" }

    /// Removes every upstream `Set-Cookie` that would set a cookie of this name: the session
    /// cookie is the proxy's alone (a backend ends or replaces a session with `Session-Logout`
    /// and `Session-Login`), so a backend can neither overwrite a user's session cookie nor
    /// plant one (session fixation). Cookie names compare exactly (RFC 6265 5.3 keeps case).
    /// Returns whether any was removed.
    public func removeUpstreamCookies(from fields: inout HTTPFields) -> Bool {
        var found = false
        for value in fields[values: .setCookie] where Self.setsCookie(named: name, value) {
            found = true
            break
        }
        guard found else { return false }
        fields.removeAll { $0.name == .setCookie && Self.setsCookie(named: name, $0.value) }
        return true
    }

    /// Whether the `Set-Cookie` value `header` sets the cookie `name` (blanks around the name
    /// allowed, as RFC 6265 5.2 trims them), or a nameless cookie browsers send back as it: an
    /// empty name keeps the rest of the pair as the value (RFC 6265bis 5.7), so
    /// `=cloakroom_session=x` comes back as `Cookie: cloakroom_session=x` (found by an audit:
    /// a backend could plant a session that way).
    static func setsCookie(named name: String, _ header: some StringProtocol) -> Bool {
        let pair = header.prefix { $0 != ";" }
        guard let eq = pair.firstIndex(of: "=") else { return false }
        let cookieName = pair[..<eq].drop(while: { $0 == " " || $0 == "\t" })
        var end = cookieName.endIndex
        while end > cookieName.startIndex, cookieName[cookieName.index(before: end)] == " " || cookieName[cookieName.index(before: end)] == "\t" {
            end = cookieName.index(before: end)
        }
        if end == cookieName.startIndex { return setsCookie(named: name, pair[pair.index(after: eq)...]) }
        return cookieName[..<end] == name
    }

    /// `Set-Cookie` that makes the browser drop the cookie.
    public func expireCookie(secureTransport: Bool) -> String {
        "\(name)=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + (secureTransport ? attributes.secure : attributes.insecure)
    }
}

/// The last session cookie value a connection presented and what verifying it gave (the ID,
/// or `nil` for a bad signature). A keep-alive connection nearly always presents the same
/// cookie: this saves the HMAC and the key hash on every request after its first.
///
/// An entry counts only for the owner that verified it (the ``ProxyPolicy``): a reload makes a
/// new policy, so a secret taken out of `session.secrets` stops validating at once. A
/// connection only ever holds values its own client sent.
///
/// - Important: Not thread-safe: one per connection, used on its event loop.
public final class VerifiedCookieMemo {
    fileprivate var owner: ObjectIdentifier?
    fileprivate var value = ""
    fileprivate var id: SessionID?
    /// The last API key presented on the connection (``PresentedCredential``) and its store
    /// key: a client repeats its key request after request, and this spares hashing it again.
    var apiKeyText = ""
    var apiKey: SessionKey?

    public init() {}

    /// Whether `candidate` has the same bytes as the remembered value (one `memcmp`).
    fileprivate func holds(_ candidate: UnsafeRawBufferPointer) -> Bool {
        guard value.utf8.count == candidate.count else { return false }
        guard !value.isEmpty else { return true }
        return value.withUTF8 { ours in memcmp(ours.baseAddress!, candidate.baseAddress!, ours.count) == 0 }
    }
}

/// Where ``ProxyPolicy/begin(_:client:requestID:cookieMemo:cookie:)`` finds the session cookie.
public enum PresentedCookie: Sendable {
    /// In the request's `Cookie` fields, from which ``SessionCookies/take(from:memo:owner:)``
    /// takes it.
    case inFields
    /// Already taken by the server, which keeps `Cookie` out of the request's fields
    /// (``SessionCookies/takeSole(_:memo:owner:)``): the ID, `nil` when none or badly signed.
    case taken(SessionID?)
}
