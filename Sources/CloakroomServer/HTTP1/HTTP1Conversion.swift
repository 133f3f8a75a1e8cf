import HTTPTypes
import NIOHTTP1

// Conversions between NIO's HTTP/1 heads and swift-http-types, done here rather than with
// NIOHTTPTypesHTTP1's codec because that one parses every target with Foundation's
// URLComponents and forgets the request's HTTP version (which HTTP/1.0 keep-alive and
// response framing need).

enum HTTP1ConversionError: Error {
    case invalidMethod
    case repeatedHost
    case missingHost
    case invalidTarget
}

extension HTTPRequest {
    /// The request as the policy sees it. `Host` becomes the authority (required in HTTP/1.1,
    /// exactly once); an absolute-form target (`http://host/path`) is reduced to its path, its
    /// authority replacing `Host`.
    init(http1 head: HTTPRequestHead, secure: Bool) throws {
        guard let method = HTTPRequest.Method(head.method.rawValue) else { throw HTTP1ConversionError.invalidMethod }
        var authority: String?
        var fields = HTTPFields()
        fields.reserveCapacity(head.headers.count + 6)
        for (name, value) in head.headers {
            if authority == nil && name.utf8.count == 4 && name.lowercased() == "host" {
                authority = value
                continue
            }
            guard let fieldName = HTTPField.Name(name) else { throw HTTP1ConversionError.invalidTarget }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        var path = head.uri
        if !path.hasPrefix("/") {
            guard let absolute = RequestTarget.split(path, method: method) else { throw HTTP1ConversionError.invalidTarget }
            path = absolute.path
            if let host = absolute.authority { authority = host }
        }
        if authority == nil && head.version == .http1_0 { authority = "" }
        guard let authority else { throw HTTP1ConversionError.missingHost }
        self.init(method: method, scheme: secure ? "https" : "http", authority: authority, path: path, headerFields: fields)
    }
}

extension HTTPRequestHead {
    /// The request as sent upstream: always HTTP/1.1, `Host` first.
    init(http1For request: HTTPRequest) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headerFields.count + 1)
        if let authority = request.authority, !authority.isEmpty { headers.add(name: "Host", value: authority) }
        var firstCookie = true
        for field in request.headerFields {
            if field.name == .cookie {
                // HTTP/1.1 allows one Cookie line: join crumbs with "; ".
                if firstCookie, let joined = request.headerFields[.cookie] {
                    firstCookie = false
                    headers.add(name: "Cookie", value: joined)
                }
            } else {
                headers.add(name: field.name.rawName, value: field.value)
            }
        }
        self.init(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: request.path ?? "/", headers: headers)
    }
}

extension HTTPResponse {
    init(http1 head: HTTPResponseHead) {
        var fields = HTTPFields()
        fields.reserveCapacity(head.headers.count + 2)
        for (name, value) in head.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        self.init(status: .init(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase), headerFields: fields)
    }
}

extension HTTPResponseHead {
    init(http1For response: HTTPResponse, version: HTTPVersion) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headerFields.count + 2)
        for field in response.headerFields { headers.add(name: field.name.rawName, value: field.value) }
        self.init(
            version: version,
            status: HTTPResponseStatus(statusCode: response.status.code, reasonPhrase: response.status.reasonPhrase),
            headers: headers)
    }
}
