import CloakroomProxy
import NIOCore

extension ClientRequestHead {
    /// The session cookie, for ``ProxyPolicy/begin(_:client:requestID:cookieMemo:cookie:)``,
    /// taken from the raw `Cookie` lines.
    ///
    /// One line holding our cookie alone (every request a browser or API client sends with its
    /// session): the ID straight from the line's bytes, which ``RequestFieldFilter/dropsLine(name:)``
    /// then leaves out of the upstream head. Anything else (other cookies beside ours, several
    /// lines): the lines become `Cookie` fields of ``request``, for the policy to take ours out
    /// of and forward the rest, exactly as for a request whose fields were all parsed.
    mutating func takeSessionCookie(_ cookies: SessionCookies, memo: VerifiedCookieMemo, owner: ObjectIdentifier) -> PresentedCookie {
        // No lines (HTTP/2 carries its cookies as fields): the fields are where to look.
        guard cookieLines > 0 else { return .inFields }
        if cookieLines == 1 {
            let range = firstCookieValue
            let sole = lines.withUnsafeReadableBytes { bytes in
                cookies.takeSole(UnsafeRawBufferPointer(rebasing: bytes[range]), memo: memo, owner: owner)
            }
            if let sole { return sole }
        }
        lines.withUnsafeReadableBytes { bytes in
            HTTP1Head.forEachLine(bytes) { name, line in
                // Checked by the parser, so this cannot throw.
                guard PolicyRequestFields.isCookie(name: name), let parsed = try? HTTP1Head.fieldAndName(line[0..<(line.count - 2)]) else { return }
                request.headerFields.append(parsed.field)
            }
        }
        return .inFields
    }
}
