import HTTPTypes

/// How a request's body is delimited on its way to an upstream (RFC 9112 §6): the one decision
/// for every path a request takes there — HTTP/1.1 and HTTP/1.0 connections, HTTP/2 streams,
/// upgrade requests, a retry on a fresh connection. The client's own `Content-Length` and
/// `Transfer-Encoding` never reach the upstream (``RequestFieldFilter`` drops them); the
/// upstream head's framing field is written from this value alone, and
/// ``UpstreamConnection`` holds the body it writes to it.
///
/// The body an HTTP/1.1 upstream reads must end exactly where the proxy's request ends: a body
/// sent without framing is read as the next request on a pooled connection, which is how an
/// HTTP/2 body without `content-length` once smuggled requests with a forged identity past the
/// session check.
enum UpstreamFraming: Equatable, Sendable {
    /// No body and no framing field.
    case none
    /// `Content-Length: n`; exactly `n` bytes follow.
    case length(Int)
    /// `Transfer-Encoding: chunked`, in the proxy's own chunks: a body whose length is not
    /// known when the head is written (HTTP/2 without `content-length`, HTTP/1.1 chunked).
    case chunked

    /// The framing for a request whose client declared `contentLength` (the HTTP/1.1 field or
    /// HTTP/2's `content-length`, validated), sent its body `chunked` (HTTP/1.1), or neither.
    /// `bodyMayFollow`: a body may follow without either (HTTP/2 without END_STREAM on
    /// HEADERS); on HTTP/1.1 a body has one or the other, or is not there (RFC 9112 §6.3).
    ///
    /// An empty body is sent as `Content-Length: 0` for methods that define a meaning for
    /// content (RFC 9110 §8.6: a server may refuse such a request without a length, 411), with
    /// no framing field otherwise.
    static func decide(method: HTTPRequest.Method, contentLength: Int?, chunked: Bool, bodyMayFollow: Bool) -> UpstreamFraming {
        if chunked { return .chunked }
        if let contentLength, contentLength > 0 { return .length(contentLength) }
        if contentLength == 0 || !bodyMayFollow { return definesContent(method) ? .length(0) : .none }
        return .chunked
    }

    /// POST, PUT and PATCH: their content has a defined meaning.
    static func definesContent(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch
    }

    /// Whether body bytes follow the head.
    var hasBody: Bool {
        switch self {
        case .none, .length(0): return false
        case .length, .chunked: return true
        }
    }

    /// The framing field as swift-http-types sees it (the echo upstream shows it).
    var field: HTTPField? {
        switch self {
        case .none: return nil
        case .length(let length): return HTTPField(name: .contentLength, value: String(length))
        case .chunked: return HTTPField(name: .transferEncoding, value: "chunked")
        }
    }

    /// A declared length as digits only (`+5`, `5 `, `0x5` are not lengths), at most 18 of them.
    static func parseLength<S: StringProtocol>(_ text: S) -> Int? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 18, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }
}

/// The body written to an upstream would not match the framing its head declared; the
/// connection was closed before the excess (or the shortfall) could be read as another message.
struct UpstreamFramingViolation: Error, CustomStringConvertible {
    var description: String { "request body does not match its declared length" }
}
