import HTTPTypes
import NIOCore
import NIOHTTP1

/// A request head as an ``ExchangeDriver`` takes it, from an HTTP/1.1 connection or an HTTP/2 stream.
struct ClientRequestHead {
    var request: HTTPRequest
    var version: HTTPVersion
    var keepAlive: Bool
    var framing: FramingFields
    /// `Connection` lists `upgrade` (HTTP/1.1).
    var connectionUpgrade = false
    /// A body may follow without a declared length: an HTTP/2 request whose HEADERS did not end
    /// the stream. (On HTTP/1.1 a body has `Content-Length` or chunked coding, or is not there.)
    var bodyMayFollow = false
    /// HTTP/1.1: the field lines the policy does not read (``PolicyRequestFields``),
    /// each `name: value` CRLF as the client sent it, kept out of `request`: they are only
    /// forwarded or dropped, by name (``RequestFieldFilter``), so they are copied, never made
    /// into swift-http-types values. Empty for HTTP/2.
    ///
    /// `Cookie` lines are among them until ``takeSessionCookie(_:memo:owner:)`` has run.
    var lines = ByteBuffer()
    /// HTTP/1.1: how many `Cookie` lines ``lines`` holds, and where the first one's value is.
    var cookieLines = 0
    var firstCookieValue = 0..<0
}
