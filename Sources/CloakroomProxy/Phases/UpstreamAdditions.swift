import HTTPTypes

/// The fields phase 4 adds to every forwarded request, after the strip, in this order: the
/// session's identity (``IdentityHeaders``, then the ``IdentityAssertion``), `X-Forwarded-For`,
/// `X-Forwarded-Proto`, `X-Forwarded-Host` (when the request names a host) and `X-Request-Id`.
///
/// A value, so a server writing HTTP/1.1 heads can write these lines straight into the head
/// instead of appending them to the request's field list first.
public struct UpstreamAdditions: Sendable {
    /// Identity fields, in the configured order, then the assertion; empty without a session.
    public let identity: [HTTPField]
    /// The same as HTTP/1.1 field lines, `name: value` CRLF each (``lines(_:)``): rendered once
    /// per session and connection (``InjectionMemo``) and written with one copy.
    public let identityLines: [UInt8]
    /// The client's address.
    public let forwardedFor: String
    /// The client connection is TLS: `X-Forwarded-Proto: https`.
    public let secure: Bool
    public let forwardedHost: String?
    public let requestID: String

    public var forwardedProto: String { secure ? "https" : "http" }

    /// Appends the fields, in order.
    public func append(to fields: inout HTTPFields) {
        fields.reserveCapacity(fields.count + identity.count + 4)
        fields.append(contentsOf: identity)
        fields.append(HTTPField(name: .xForwardedFor, value: forwardedFor))
        fields.append(HTTPField(name: .xForwardedProto, value: forwardedProto))
        if let forwardedHost { fields.append(HTTPField(name: .xForwardedHost, value: forwardedHost)) }
        fields.append(HTTPField(name: .xRequestID, value: requestID))
    }

    /// `fields` as HTTP/1.1 field lines. Names and values were checked when the fields were
    /// made (swift-http-types refuses CR, LF and NUL), so no line can split the head.
    static func lines(_ fields: [HTTPField]) -> [UInt8] {
        var lines: [UInt8] = []
        for field in fields {
            lines.append(contentsOf: field.name.rawName.utf8)
            lines.append(contentsOf: ": ".utf8)
            field.withUnsafeBytesOfValue { lines.append(contentsOf: $0) }
            lines.append(contentsOf: "\r\n".utf8)
        }
        return lines
    }
}
