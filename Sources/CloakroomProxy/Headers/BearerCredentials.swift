/// The token of an `Authorization: Bearer <token>` value, read one way wherever the proxy reads
/// credentials: API keys, the identity provider's tokens, what `pass_access_token` and the
/// cookie-only routes take out, and the admin API's token.
///
/// RFC 9110 §11.4: the scheme is case-insensitive, and the credentials follow after whitespace.
/// Any run of spaces and tabs counts (`Bearer<TAB>ck_…` is `Bearer ck_…`): a backend or a
/// library that reads the scheme that way must never see a key the proxy did not recognise as
/// one (found by a black-box audit: it was forwarded).
public enum BearerCredentials {
    /// The token after `Bearer` and its blanks (possibly empty), or `nil` when `value` is not
    /// the Bearer scheme, alone or followed by at least one space or tab. `Bearer` alone (a
    /// field value loses its trailing blanks, so `Bearer   ` too) is an empty token: a bad
    /// credential, not none (found by an audit: it let the cookie or a login redirect decide).
    public static func token(in value: String) -> Substring? {
        // On bytes: `String`'s own slicing walks grapheme clusters.
        let utf8 = value.utf8
        guard utf8.count >= 6, ASCIIText.equalsIgnoringCase(utf8.prefix(6), "bearer") else { return nil }
        if utf8.count == 6 { return Substring(utf8[utf8.endIndex...]) }
        var start = utf8.index(utf8.startIndex, offsetBy: 6)
        guard ASCIIText.isBlank(utf8[start]) else { return nil }
        while start < utf8.endIndex && ASCIIText.isBlank(utf8[start]) { start = utf8.index(after: start) }
        return Substring(utf8[start...])
    }
}
