import HTTPTypes

/// The fields phase 4 adds to every forwarded request, after the strip, in this order: the
/// session's identity (``IdentityHeaders``), `X-Forwarded-For`, `X-Forwarded-Proto`,
/// `X-Forwarded-Host` (when the request names a host) and `X-Request-Id`.
///
/// A value, so a server writing HTTP/1.1 heads can write these lines straight into the head
/// instead of appending them to the request's field list first.
public struct UpstreamAdditions: Sendable {
    /// Identity fields, in the configured order; empty without a session.
    public let identity: [HTTPField]
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
}
