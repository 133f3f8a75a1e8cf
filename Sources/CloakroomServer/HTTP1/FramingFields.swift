import CloakroomProxy
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
}
