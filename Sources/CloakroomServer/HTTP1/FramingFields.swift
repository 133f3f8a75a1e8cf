import CloakroomProxy
import HTTPTypes
import NIOHTTP1

/// The request fields the handler reads before the policy runs (first occurrence of each): found
/// while parsing an HTTP/1.1 head, or in one pass over an HTTP/2 stream's head, names compared
/// ignoring ASCII case.
struct FramingFields {
    var requestID: String?
    var transferEncoding: String?
    var contentLength: String?
    var expect: String?
    var contentType: String?
    var upgrade: String?

    init() {}

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch name.utf8.count {
            case 6:
                if expect == nil && ASCIIText.equalsIgnoringCase(name.utf8, "expect") { expect = value }
            case 7:
                if upgrade == nil && ASCIIText.equalsIgnoringCase(name.utf8, "upgrade") { upgrade = value }
            case 12:
                if requestID == nil && ASCIIText.equalsIgnoringCase(name.utf8, "x-request-id") {
                    requestID = value
                } else if contentType == nil && ASCIIText.equalsIgnoringCase(name.utf8, "content-type") {
                    contentType = value
                }
            case 14:
                if contentLength == nil && ASCIIText.equalsIgnoringCase(name.utf8, "content-length") { contentLength = value }
            case 17:
                if transferEncoding == nil && ASCIIText.equalsIgnoringCase(name.utf8, "transfer-encoding") { transferEncoding = value }
            default:
                break
            }
        }
    }

    /// From an HTTP/2 stream's fields (no `Transfer-Encoding` or `Upgrade` there: RFC 9113
    /// forbids them, and NIO's HTTP/2 handler resets streams that carry them).
    init(_ fields: HTTPFields) {
        for field in fields {
            switch field.name {
            case .xRequestID where requestID == nil: requestID = field.value
            case .contentLength where contentLength == nil: contentLength = field.value
            case .expect where expect == nil: expect = field.value
            case .contentType where contentType == nil: contentType = field.value
            default: break
            }
        }
    }
}
