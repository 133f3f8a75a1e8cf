import CloakroomProxy
import HTTPTypes

/// The request fields the handler reads before the policy runs (first occurrence of each): found
/// while parsing an HTTP/1.1 head (names compared ignoring ASCII case), or in one pass over an
/// HTTP/2 stream's fields.
struct FramingFields {
    var requestID: String?
    var transferEncoding: String?
    var contentLength: String?
    var expect: String?
    var contentType: String?
    var upgrade: String?

    init() {}

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
