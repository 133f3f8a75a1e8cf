import CloakroomProxy
import HTTPTypes
import Testing

@Suite struct ProxyErrorTests {
    @Test(arguments: [
        (ProxyError.Code.badRequest, 400, ProxyError.Source.client, true),
        (.headerTimeout, 408, .client, true),
        (.headersTooLarge, 431, .client, true),
        (.bodyTooLarge, 413, .client, true),
        (.notFound, 404, .client, false),
        (.methodNotAllowed, 405, .client, false),
        (.unauthenticated, 401, .client, false),
        (.upstreamUnavailable, 502, .upstream, false),
        (.upstreamTimeout, 504, .upstream, false),
        (.storeUnavailable, 503, .store, false),
        (.internalError, 500, .internal, false),
    ])
    func mapsEveryCodeToOneStatus(code: ProxyError.Code, status: Int, source: ProxyError.Source, closes: Bool) {
        let error = ProxyError(code, "detail")
        #expect(error.status.code == status)
        #expect(error.source == source)
        #expect(error.closesConnection == closes)
    }

    @Test func responseIsJSONWithRequestIDAndNoDetail() throws {
        let error = ProxyError(.upstreamUnavailable, "connect to 10.0.0.5:9000 refused; secret=hunter2")
        let response = error.response(requestID: "rid-err")
        #expect(response.head.status == .badGateway)
        #expect(try json(response.body) == ["error": "bad_gateway"])
        #expect(response.head.headerFields[.xRequestID] == "rid-err")
        #expect(response.head.headerFields[.contentType] == "application/json")
        #expect(!String(decoding: response.body, as: UTF8.self).contains("hunter2"))
        #expect(error.description.contains("hunter2"), "detail is for logs")
    }

    @Test func redirectAndEmptyCarryTheRequestID() {
        let redirect = LocalResponse.redirect(to: "/x", requestID: "r1")
        #expect(redirect.head.status == .seeOther)
        #expect(redirect.head.headerFields[.location] == "/x")
        #expect(redirect.head.headerFields[.xRequestID] == "r1")
        let empty = LocalResponse.empty(status: .noContent, requestID: "r2")
        #expect(empty.head.status == .noContent)
        #expect(empty.head.headerFields[.xRequestID] == "r2")
        #expect(empty.body.isEmpty)
    }
}
