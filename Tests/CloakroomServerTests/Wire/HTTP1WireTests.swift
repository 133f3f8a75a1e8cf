import CloakroomProxy
import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing

@testable import CloakroomServer

/// The HTTP/1.1 parsers and writer on bytes, without sockets: every split point, pipelining,
/// chunked framing, and the malformed inputs that must never be accepted.
@Suite struct HTTP1WireTests {
    typealias Event = HTTP1RequestParser.Event

    /// Feeds `chunks` one after another, collecting events, the way reads arrive.
    static func parseRequests(_ chunks: [String], maxHeaderBytes: Int = 8192) throws -> [Event] {
        var parser = HTTP1RequestParser(maxHeaderBytes: maxHeaderBytes, secure: false)
        var buffer = ByteBuffer()
        var events: [Event] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let event = try parser.next(&buffer) { events.append(event) }
        }
        return events
    }

    static func describe(_ events: [Event]) -> [String] {
        events.map { event in
            switch event {
            case .head(let head): "head \(head.request.method.rawValue) \(head.request.path ?? "") \(head.request.authority ?? "-")"
            case .body(let buffer): "body \(String(buffer: buffer))"
            case .end: "end"
            }
        }
    }

    @Test func pipelinedRequestsWithBodiesParseInOrder() throws {
        let wire =
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
        let expected = ["head GET /a h", "end", "head POST /b h", "body hello", "end", "head PUT /c h", "body abc", "body de", "end"]
        #expect(Self.describe(try Self.parseRequests([wire])) == expected)
        // The same bytes split at every position, and one byte per read: the same events, bodies
        // possibly in more pieces.
        for split in 1..<wire.utf8.count {
            let bytes = Array(wire.utf8)
            let events = try Self.parseRequests([String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self)])
            #expect(Self.merged(Self.describe(events)) == Self.merged(expected), "split at \(split)")
        }
        let bytewise = try Self.parseRequests(wire.map { String($0) })
        #expect(Self.merged(Self.describe(bytewise)) == Self.merged(expected))
    }

    /// Adjacent body events joined, so that splits compare equal.
    static func merged(_ described: [String]) -> [String] {
        var out: [String] = []
        for item in described {
            if item.hasPrefix("body "), let last = out.last, last.hasPrefix("body ") {
                out[out.count - 1] = last + item.dropFirst(5)
            } else {
                out.append(item)
            }
        }
        return out
    }

    @Test func headFieldsBecomeAnHTTPRequest() throws {
        let events = try Self.parseRequests([
            "\r\nGET http://example.com:8080/x?q=1 HTTP/1.1\r\nHost: ignored\r\nX-A:  padded value \t\r\nCookie: a=1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: r1\r\n\r\n"
        ])
        guard case .head(let head) = events.first else { Issue.record("no head"); return }
        #expect(head.request.authority == "example.com:8080")
        #expect(head.request.path == "/x?q=1")
        // Fields the policy does not read stay raw lines, trailing blanks cut (RequestLinesTests).
        // Cookie too, taken from there (RequestLinesTests).
        #expect(String(buffer: head.lines) == "X-A:  padded value\r\nCookie: a=1\r\nUpgrade: websocket\r\nX-Request-Id: r1\r\n")
        #expect(head.request.headerFields[.cookie] == nil && head.cookieLines == 1)
        #expect(head.request.headerFields[HTTPField.Name("Host")!] == nil, "Host becomes the authority")
        #expect(head.connectionUpgrade && head.framing.upgrade == "websocket" && head.framing.requestID == "r1")
        #expect(head.keepAlive && head.version == .http1_1)
        // The parser stops after an upgrade request: what follows is the tunnel's.
        var parser = HTTP1RequestParser(maxHeaderBytes: 8192, secure: true)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nRAW BYTES")
        guard case .head(let upgrade) = try parser.next(&buffer) else { Issue.record("no head"); return }
        #expect(upgrade.request.scheme == "https")
        guard case .end = try parser.next(&buffer) else { Issue.record("no end"); return }
        #expect(try parser.next(&buffer) == nil)
        #expect(String(buffer: buffer) == "RAW BYTES")
        // `h2c` is no upgrade: the request is HTTP/1.1 and the next one parses as HTTP/1.1.
        var h2c = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: H2C\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        var plain = HTTP1RequestParser(maxHeaderBytes: 8192, secure: false)
        guard case .head(let first) = try plain.next(&h2c) else { Issue.record("no head"); return }
        #expect(first.framing.upgrade == nil)
        guard case .end = try plain.next(&h2c) else { Issue.record("no end"); return }
        guard case .head(let second) = try plain.next(&h2c) else { Issue.record("no second head"); return }
        #expect(second.request.path == "/b")
    }

    @Test func keepAliveFollowsVersionAndConnection() throws {
        func keepAlive(_ head: String) throws -> Bool {
            guard case .head(let parsed) = try Self.parseRequests([head]).first else { return false }
            return parsed.keepAlive
        }
        #expect(try keepAlive("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(try !keepAlive("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"))
        #expect(try !keepAlive("GET / HTTP/1.0\r\n\r\n"))
        #expect(try keepAlive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
    }

    static let malformedRequests: [(String, String)] = [
        ("bare LF in the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n"),
        ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\n"),
        ("bare CR in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),
        ("space before the colon", "GET / HTTP/1.1\r\nHost: h\r\nX : 1\r\n\r\n"),
        ("empty field name", "GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n"),
        ("obsolete folding", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"),
        ("DEL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n"),
        ("two spaces after the method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        ("lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n"),
        ("no target", "GET HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("relative target", "GET x HTTP/1.1\r\nHost: h\r\n\r\n"),
        // A fragment: the route matched `/admin/export#x`, a backend that cuts at `#` would
        // serve `/admin/export` (found by an audit).
        ("fragment in the target", "GET /admin/export#x HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("fragment in an absolute target", "GET http://h/a#x HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("missing Host", "GET / HTTP/1.1\r\n\r\n"),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        // RFC 9112 §3.2: an invalid Host is 400, never routed or forwarded (found by an audit).
        ("Host with a space", "GET / HTTP/1.1\r\nHost: a.test x\r\n\r\n"),
        ("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a.test\r\n\r\n"),
        ("Host with a path", "GET / HTTP/1.1\r\nHost: x.wild.test/evil\r\n\r\n"),
        ("Host with a letter port", "GET / HTTP/1.1\r\nHost: a.test:abc\r\n\r\n"),
        ("Host with an empty label", "GET / HTTP/1.1\r\nHost: .wild.test\r\n\r\n"),
        ("absolute target with userinfo", "GET http://u@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        ("Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
        ("two equal Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
        ("signed Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"),
        ("Content-Length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"),
        ("huge Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        ("gzip transfer coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        ("chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("chunk size with a sign", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
        ("chunk size overflowing", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\n"),
        ("chunk data longer than its size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"),
        ("chunk size line with a bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n"),
        ("malformed trailer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n"),
    ]

    @Test(arguments: malformedRequests.indices)
    func malformedRequestsAreRejected(_ index: Int) {
        let (name, wire) = Self.malformedRequests[index]
        #expect(throws: HTTP1WireError.self, "\(name)") { _ = try Self.parseRequests([wire]) }
    }

    @Test func targetBytesPastASCIIMustBeUTF8() throws {
        func parse(_ target: [UInt8]) throws -> String? {
            var parser = HTTP1RequestParser(maxHeaderBytes: 8192, secure: false)
            var buffer = ByteBuffer(bytes: Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
            guard case .head(let head) = try parser.next(&buffer) else { return nil }
            return head.request.path
        }
        #expect(try parse(Array("/caf\u{E9}".utf8)) == "/caf\u{E9}")
        #expect(throws: HTTP1WireError.self) { _ = try parse([0x2F, 0xFF]) }
    }

    @Test func oversizedHeadIs431EvenBeforeItEnds() {
        let big = String(repeating: "a", count: 300)
        do {
            _ = try Self.parseRequests(["GET / HTTP/1.1\r\nHost: h\r\nX: \(big)"], maxHeaderBytes: 256)
            Issue.record("accepted")
        } catch let error as HTTP1WireError {
            #expect(error.kind == .headersTooLarge)
        } catch {
            Issue.record("\(error)")
        }
    }

    /// Random damage to valid messages, fed in random pieces: the parsers answer with events or
    /// an error, and never trap, loop or read out of bounds (Swift would trap).
    @Test func damagedMessagesNeverTrap() throws {
        let requests = [
            "GET /a?b=c HTTP/1.1\r\nHost: h\r\nCookie: s=1; t=2\r\nX-Request-Id: r\r\n\r\n",
            "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
            "PUT /p HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive, Upgrade\r\nUpgrade: ws\r\n\r\nabc",
        ]
        let responses = [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close, X\r\n\r\nhi",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            "HTTP/1.0 101 Switching\r\nUpgrade: ws\r\n\r\nframes",
        ]
        let alphabet: [UInt8] = Array("\r\n :;,0123456789abcdefHTTP/1.chunked\t".utf8) + [0, 0x7F, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20000 {
            let isRequest = round % 2 == 0
            var bytes = Array((isRequest ? requests : responses)[round / 2 % 3].utf8)
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator)!
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: at)
                default: bytes.remove(at: at)
                }
                if bytes.isEmpty { bytes = [0x0D] }
            }
            var buffer = ByteBuffer()
            var offset = 0
            var requestParser = HTTP1RequestParser(maxHeaderBytes: 256, secure: false)
            var responseParser = HTTP1ResponseParser(maxHeaderBytes: 256)
            responseParser.requestWasHEAD = round % 5 == 0
            feeding: while offset < bytes.count {
                let piece = Int.random(in: 1...max(1, bytes.count - offset), using: &generator)
                buffer.writeBytes(bytes[offset..<(offset + piece)])
                offset += piece
                do {
                    var steps = 0
                    if isRequest {
                        while let event = try requestParser.next(&buffer) {
                            if case .head(let head) = event { _ = head.request.path }
                            steps += 1
                            if steps > 100 { Issue.record("no progress: \(bytes)"); break feeding }
                        }
                    } else {
                        while let event = try responseParser.next(&buffer) {
                            if case .head(let head) = event { _ = try head.response() }
                            steps += 1
                            if steps > 100 { Issue.record("no progress: \(bytes)"); break feeding }
                        }
                        _ = responseParser.closed()
                    }
                } catch {
                    break feeding
                }
            }
        }
    }

    // MARK: Responses

    static func parseResponses(_ wire: String, head: Bool = false, close: Bool = false) throws -> [String] {
        var parser = HTTP1ResponseParser(maxHeaderBytes: 8192)
        parser.requestWasHEAD = head
        var buffer = ByteBuffer(string: wire)
        var out: [String] = []
        func record(_ event: HTTP1ResponseParser.Event) {
            switch event {
            case .head(let head): out.append("head \(head.code) keep-alive=\(head.keepAlive)")
            case .body(let body): out.append("body \(String(buffer: body))")
            case .end: out.append("end")
            }
        }
        while let event = try parser.next(&buffer) { record(event) }
        if close, let event = parser.closed() { record(event) }
        return merged(out)
    }

    @Test func responseFraming() throws {
        #expect(try Self.parseResponses("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi") == ["head 200 keep-alive=true", "body hi", "end"])
        #expect(
            try Self.parseResponses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n")
                == ["head 200 keep-alive=true", "body hi!", "end"])
        #expect(try Self.parseResponses("HTTP/1.1 200 OK\r\n\r\nuntil close", close: true) == ["head 200 keep-alive=false", "body until close", "end"])
        #expect(try Self.parseResponses("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n") == ["head 200 keep-alive=false", "end"])
        #expect(try Self.parseResponses("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head: true) == ["head 200 keep-alive=true", "end"])
        #expect(try Self.parseResponses("HTTP/1.1 204\r\n\r\n") == ["head 204 keep-alive=true", "end"])
        #expect(try Self.parseResponses("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n") == ["head 304 keep-alive=true", "end"])
        // RFC 9110 §8.6: a 204's Content-Length is not forwarded (a 304's is).
        var noContent = HTTP1ResponseParser(maxHeaderBytes: 8192)
        var wire = ByteBuffer(string: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n")
        guard case .head(let head204) = try noContent.next(&wire) else { Issue.record("no head"); return }
        #expect(head204.needsPolicy)
        #expect(try head204.response().headerFields[.contentLength] == nil && head204.response().headerFields[HTTPField.Name("X-A")!] == "1")
        // Interim responses are dropped; the final one follows.
        #expect(
            try Self.parseResponses("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                == ["head 201 keep-alive=true", "end"])
        // A 101 ends parsing: the rest is the tunnel's.
        var parser = HTTP1ResponseParser(maxHeaderBytes: 8192)
        var buffer = ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nFRAME")
        guard case .head(let head) = try parser.next(&buffer) else { Issue.record("no head"); return }
        #expect(try head.code == 101 && head.response().headerFields[.upgrade] == "websocket")
        guard case .end = try parser.next(&buffer) else { Issue.record("no end"); return }
        #expect(try parser.next(&buffer) == nil && parser.isStopped && String(buffer: buffer) == "FRAME")
    }

    @Test func malformedResponsesAreRejected() {
        let responses = [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: 0\r\n\r\n",
            "ICY 200 OK\r\n\r\n",
        ]
        for wire in responses {
            #expect(throws: HTTP1WireError.self, "\(wire)") { _ = try Self.parseResponses(wire) }
        }
    }

    /// The head kept as bytes: forwarded by copying lines, or materialized for the policy.
    @Test func upstreamHeadIsForwardedByTheFieldRule() throws {
        func head(_ wire: String) throws -> UpstreamResponseHead? {
            var parser = HTTP1ResponseParser(maxHeaderBytes: 8192)
            var buffer = ByteBuffer(string: wire)
            guard case .head(let head) = try parser.next(&buffer) else { return nil }
            return head
        }
        let plain = try #require(
            try head(
                "HTTP/1.1 200 OK\r\nServer: be\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Request-Id: upstream\r\n"
                    + "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\netag: \"a=1\"\r\n\r\n"))
        #expect(!plain.needsPolicy && !plain.hasContentLength && plain.code == 200)
        var buffer = ByteBuffer()
        HTTP1Writer.writeResponseHead(plain, version: .http1_1, requestID: "rid", extra: nil, chunked: true, into: &buffer)
        #expect(
            String(buffer: buffer)
                == "HTTP/1.1 200 OK\r\nServer: be\r\nContent-Type: text/plain\r\netag: \"a=1\"\r\nX-Request-Id: rid\r\n"
                + "transfer-encoding: chunked\r\n\r\n")
        // The same head through an HTTPResponse and the rule gives the same bytes.
        var response = try plain.response()
        response.headerFields.removeAll { ResponseFieldRule.of(name: Array($0.name.rawName.utf8)) != .forward }
        response.headerFields.append(HTTPField(name: HTTPField.Name("X-Request-Id")!, value: "rid"))
        var viaResponse = ByteBuffer()
        HTTP1Writer.writeResponseHead(response, version: .http1_1, extra: nil, chunked: true, into: &viaResponse)
        #expect(viaResponse == buffer)
        // A status line without a reason phrase keeps the space before it (found by an audit:
        // "HTTP/1.1 200\r\n" went out as it came).
        let bare = try #require(try head("HTTP/1.0 204\r\nServer: be\r\n\r\n"))
        var bareOut = ByteBuffer()
        HTTP1Writer.writeResponseHead(bare, version: .http1_1, requestID: "rid", extra: nil, chunked: false, into: &bareOut)
        #expect(String(buffer: bareOut) == "HTTP/1.1 204 \r\nServer: be\r\nX-Request-Id: rid\r\n\r\n")
        // What only the policy applies.
        #expect(try head("HTTP/1.1 200 OK\r\nSession-Login: {}\r\nContent-Length: 0\r\n\r\n")?.needsPolicy == true)
        #expect(try head("HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nContent-Length: 0\r\n\r\n")?.needsPolicy == true)
        #expect(try head("HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nContent-Length: 0\r\n\r\n")?.needsPolicy == true, "checked by name")
        let repeated = try #require(try head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n"))
        #expect(repeated.needsPolicy && repeated.hasContentLength)
        #expect(try repeated.response().headerFields[values: .contentLength] == ["1"])
        #expect(try head("HTTP/1.1 204\r\n\r\n")?.response().status.code == 204)
    }

    // MARK: Writing

    @Test func writerFramesHeadsAndChunks() {
        var request = HTTPRequest(method: .post, scheme: "http", authority: "api", path: "/p?q", headerFields: [:])
        request.headerFields.append(HTTPField(name: .cookie, value: "a=1"))
        request.headerFields.append(HTTPField(name: HTTPField.Name("X-User-Id")!, value: "u"))
        request.headerFields.append(HTTPField(name: .cookie, value: "b=2"))
        var buffer = ByteBuffer()
        HTTP1Writer.writeRequestHead(request, framing: .chunked, upgrade: nil, into: &buffer)
        #expect(
            String(buffer: buffer)
                == "POST /p?q HTTP/1.1\r\nHost: api\r\nCookie: a=1; b=2\r\nX-User-Id: u\r\nTransfer-Encoding: chunked\r\n\r\n")
        for (length, text) in [(0, "0"), (7, "7"), (1_000_000_007, "1000000007")] {
            buffer.clear()
            HTTP1Writer.writeRequestHead(request, framing: .length(length), upgrade: nil, into: &buffer)
            #expect(String(buffer: buffer).hasSuffix("X-User-Id: u\r\nContent-Length: \(text)\r\n\r\n"))
        }
        var response = HTTPResponse(status: .init(code: 404, reasonPhrase: "Not Found"))
        response.headerFields[.contentType] = "text/plain"
        buffer.clear()
        HTTP1Writer.writeResponseHead(response, version: .http1_0, extra: "connection: close\r\n", chunked: false, into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nconnection: close\r\n\r\n")
        for (count, hex) in [(1, "1"), (15, "f"), (16, "10"), (4096, "1000"), (0xABCDE, "abcde")] {
            buffer.clear()
            HTTP1Writer.writeChunkHeader(count, into: &buffer)
            #expect(String(buffer: buffer) == "\(hex)\r\n")
        }
    }
}

extension HTTP1WireTests {
    /// A head larger than the writer's first estimate is written again into exact space:
    /// nothing cut, nothing doubled, whatever the sizes.
    @Test func writerHandlesHeadsLargerThanItsEstimate() {
        for size in [0, 1, 100, 511, 512, 513, 600, 4_000, 70_000] {
            var request = HTTPRequest(method: .get, scheme: "http", authority: "api", path: "/p", headerFields: [:])
            request.headerFields.append(HTTPField(name: HTTPField.Name("X-Big")!, value: String(repeating: "v", count: size)))
            request.headerFields.append(HTTPField(name: HTTPField.Name("X-After")!, value: "end"))
            var buffer = ByteBuffer(string: "prefix|")
            HTTP1Writer.writeRequestHead(request, framing: .none, upgrade: "websocket", into: &buffer)
            let expected =
                "prefix|GET /p HTTP/1.1\r\nHost: api\r\nX-Big: \(String(repeating: "v", count: size))\r\nX-After: end\r\n"
                + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"
            #expect(String(buffer: buffer) == expected, "value of \(size) bytes")
        }
    }

    /// Request IDs: 15 URL-safe characters (a Swift string's inline size), valid as a client's
    /// own `X-Request-Id`, unique along a connection and between connections.
    @Test func requestIDsAreShortValidAndUnique() {
        let first = RequestIDGenerator(), second = RequestIDGenerator()
        var seen = Set<String>()
        for _ in 0..<50_000 {
            for id in [first.next(), second.next()] {
                #expect(id.utf8.count == 15)
                #expect(RequestID.isValid(id))
                #expect(seen.insert(id).inserted, "\(id) repeated")
            }
        }
    }

    /// The token bitmask is RFC 9110's `tchar`, byte for byte.
    @Test func tokenBytesAreExactlyTchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTP1Head.isTokenByte(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }
}
