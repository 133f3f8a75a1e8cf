import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1

/// An upstream's response head, checked and kept as the bytes it came in (status line and
/// field lines, each with its CRLF), so that the common response, with nothing for the policy
/// to apply, is forwarded by copying lines (``HTTP1Writer/writeResponseHead(_:version:requestID:extra:chunked:into:)``)
/// instead of going through an `HTTPResponse`.
struct UpstreamResponseHead {
    var bytes: ByteBuffer
    var code: Int
    var keepAlive: Bool
    var hasContentLength: Bool
    /// Something only ``ProxyPolicy/filterResponse(_:exchange:)`` applies: a control header, a
    /// `Connection` option naming a field, a repeated `Content-Length`. Use ``response()``.
    var needsPolicy: Bool

    /// The head as an `HTTPResponse` (every field, one `Content-Length`, none in a 1xx or 204:
    /// RFC 9110 §8.6).
    func response() throws(HTTP1WireError) -> HTTPResponse {
        let result = bytes.withUnsafeReadableBytes { bytes -> Result<HTTPResponse, HTTP1WireError> in
            do throws(HTTP1WireError) {
                var lines = LineIterator(bytes[...])
                guard let statusLine = lines.next() else { throw .malformed("empty response") }
                let (_, status) = try HTTP1ResponseParser.statusLine(statusLine)
                var fields = HTTPFields()
                fields.reserveCapacity(12)
                var sawLength = status.code < 200 || status.code == 204
                while let line = lines.next() {
                    let (field, name) = try HTTP1Head.fieldAndName(line)
                    if name.count == 14 && ASCIIText.equalsIgnoringCase(name, "content-length") {
                        if sawLength { continue }  // the parser checked that repeats are equal
                        sawLength = true
                    }
                    fields.append(field)
                }
                return .success(HTTPResponse(status: status, headerFields: fields))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
