import CloakroomConfig
import Foundation
import Testing

/// Every request body reaches the upstream framed exactly (RFC 9112 §6): a backend reading the
/// proxy's bytes finds the requests the clients sent, each with its own body, and nothing else.
/// The backend records the raw bytes of each connection (``RawBackend``), so a body whose bytes
/// were taken for the next request, the HTTP/2 request smuggling of issue 18, shows up as an
/// extra request, and a later client's request on the same pooled connection shows whether the
/// connection was left at a message boundary.
@Suite(.serialized)
struct RequestFramingTests {
    /// A request line and fields that must never reach the backend as a request of their own.
    static let smuggled = Array("GET /raw/secret HTTP/1.1\r\nHost: p\r\nX-User-Id: admin\r\nContent-Length: 0\r\n\r\n".utf8)

    struct Setup {
        let proxy: ProxyHarness
        let raw: RawBackend
        func stop() async {
            await proxy.stop()
            await raw.stop()
        }
    }

    /// The proxy with `/raw/open/` (no session) and `/raw/` (session required) on the raw
    /// backend; logins go to the harness's ordinary backend. One event loop: one pool, so
    /// requests one after another share the pooled connection.
    static func start(tls certificates: TestCertificates? = nil) async throws -> Setup {
        let raw = try await RawBackend.start()
        let proxy = try await ProxyHarness.start { configuration in
            configuration.upstreams["raw"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: raw.port)]))
            configuration.routes.insert(Route(path: "/raw/open/", upstream: "raw", auth: .none), at: 0)
            configuration.routes.insert(Route(path: "/raw/", upstream: "raw", auth: .required), at: 1)
            configuration.client.maxBodyBytes = 1 << 20
            if let certificates {
                configuration.listeners = [
                    Listener(
                        address: SocketAddressSpec(host: "127.0.0.1", port: 0),
                        tls: TLSSettings(certificatePath: certificates.certificate, privateKeyPath: certificates.privateKey))
                ]
            }
        }
        return Setup(proxy: proxy, raw: raw)
    }

    /// Another client, signed in as bob, on the pooled connection: it must arrive as its own
    /// request, with bob's identity and no other.
    static func checkNextClient(_ setup: Setup, cookie: String, scheme: String = "http", expectedCount: Int) async throws {
        let response = try await Curl.get("\(scheme)://127.0.0.1:\(setup.proxy.port)/raw/me", ["-k", "-H", "Cookie: \(cookie)"])
        #expect(response.status == 200)
        let requests = setup.raw.requests
        #expect(requests.count == expectedCount, "the backend parsed \(requests.map { "\($0.method) \($0.uri)" })")
        let last = try #require(requests.last)
        #expect(last.method == "GET" && last.uri == "/raw/me")
        #expect(last.values("x-user-id") == ["bob"])
        #expect(last.body.isEmpty)
        #expect(setup.raw.parseErrors == 0)
    }

    /// What the backend must see of a request with `body`: the body whole, and exactly one
    /// framing field that agrees with it (none for a bodyless GET).
    static func checkFraming(_ request: RawBackend.Request, body: [UInt8], method: String) {
        #expect(request.method == method)
        let whole = request.body == body
        #expect(whole, "body of \(request.uri): \(request.body.count) bytes arrived of \(body.count)")
        let lengths = request.values("content-length"), codings = request.values("transfer-encoding")
        if body.isEmpty && !["POST", "PUT", "PATCH"].contains(method) {
            // No framing; or, when the HEADERS frame left the stream open and only a later empty
            // DATA frame ended it, an empty chunked body (the head went upstream before the end).
            #expect(lengths.isEmpty && codings.allSatisfy { $0 == "chunked" }, "no body for a bodyless \(method): \(request.headers)")
        } else {
            #expect(lengths.count + codings.count == 1, "exactly one framing field: \(request.headers)")
            if let length = lengths.first { #expect(Int(length) == body.count) }
            if let coding = codings.first { #expect(coding == "chunked") }
        }
    }

    // MARK: The report

    /// Issue 18's reproduction: curl streams stdin over h2c, so the body has no
    /// `content-length`. It used to reach the backend unframed, and the body's bytes became a
    /// second request carrying a forged identity.
    @Test func theReportedReproductionReachesTheBackendAsOneFramedPost() async throws {
        let setup = try await Self.start()
        defer { Task { await setup.stop() } }
        let cookie = try await setup.proxy.login("bob")
        let out = try await offPool {
            try Self.curl(stdin: Self.smuggled, ["-s", "--http2-prior-knowledge", "-T", "-", "-X", "POST", "http://127.0.0.1:\(setup.proxy.port)/raw/open/upload"])
        }
        #expect(out.contains("\"received\":\(Self.smuggled.count)"), "curl got \(out)")
        let requests = setup.raw.requests
        #expect(requests.count == 1, "the backend parsed \(requests.map { "\($0.method) \($0.uri)" })")
        let post = try #require(requests.first)
        #expect(post.uri == "/raw/open/upload")
        Self.checkFraming(post, body: Self.smuggled, method: "POST")
        try await Self.checkNextClient(setup, cookie: cookie, expectedCount: 2)
        #expect(setup.raw.connectionBytes.count == 1, "both requests on the one pooled connection")
    }

    // MARK: HTTP/2 bodies in every shape

    struct Shape: Sendable, CustomStringConvertible {
        var name: String
        var method = "POST"
        var declareLength = false
        /// Explicit `content-length` value (a test of `0` with no body).
        var lengthValue: String? = nil
        var pieces: [[UInt8]] = []
        var emptyFinalData = false
        var description: String { name }
        var body: [UInt8] { pieces.flatMap { $0 } }
    }

    static let shapes: [Shape] = {
        let big = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        return [
            Shape(name: "length, one DATA", declareLength: true, pieces: [smuggled]),
            Shape(name: "length, many DATA", declareLength: true, pieces: [Array(smuggled[0..<5]), Array(smuggled[5..<40]), Array(smuggled[40...])]),
            Shape(name: "no length, one DATA", pieces: [smuggled]),
            Shape(name: "no length, many DATA", pieces: [Array(smuggled[0..<1]), Array(smuggled[1..<30]), Array(smuggled[30...])]),
            Shape(name: "no length, large body", method: "PUT", pieces: [Array(big[0..<16_000]), Array(big[16_000..<50_000]), Array(big[50_000...])]),
            Shape(name: "no length, END_STREAM on an empty DATA", pieces: [smuggled], emptyFinalData: true),
            Shape(name: "empty, END_STREAM on HEADERS", pieces: []),
            Shape(name: "empty, END_STREAM on an empty DATA", pieces: [], emptyFinalData: true),
            Shape(name: "content-length 0", lengthValue: "0", pieces: []),
            Shape(name: "GET without body", method: "GET", pieces: []),
            Shape(name: "DELETE with a body and no length", method: "DELETE", pieces: [smuggled]),
        ]
    }()

    static func request(_ shape: Shape, path: String) -> HTTP2TestClient.Request {
        var headers: [(String, String)] = []
        if let value = shape.lengthValue {
            headers.append(("content-length", value))
        } else if shape.declareLength {
            headers.append(("content-length", String(shape.body.count)))
        }
        return HTTP2TestClient.Request(
            method: shape.method, path: path, authority: "127.0.0.1", headers: headers, data: shape.pieces,
            emptyFinalData: shape.emptyFinalData)
    }

    @Test(arguments: [false, true])
    func http2BodiesInEveryShapeArriveFramed(overTLS: Bool) async throws {
        let certificates = overTLS ? try await TestCertificates.make() : nil
        defer { certificates?.remove() }
        let setup = try await Self.start(tls: certificates)
        defer { Task { await setup.stop() } }
        let login = try await Curl.get("\(overTLS ? "https" : "http")://127.0.0.1:\(setup.proxy.port)/login?sub=bob", ["-k"])
        let cookie = String(try #require(login.header("set-cookie")).split(separator: ";")[0])
        let client = try await HTTP2TestClient.connect(port: setup.proxy.port, tls: overTLS)
        defer { Task { await client.close() } }
        var expected = 0
        for (index, shape) in Self.shapes.enumerated() {
            let response = try await client.send(Self.request(shape, path: "/raw/open/shape/\(index)"))
            #expect(response.status == 200, "\(shape)")
            #expect(response.text.contains("\"received\":\(shape.body.count)"), "\(shape): \(response.text)")
            expected += 1
            let forwarded = try #require(setup.raw.requests.last)
            #expect(forwarded.uri == "/raw/open/shape/\(index)", "\(shape)")
            Self.checkFraming(forwarded, body: shape.body, method: shape.method)
            expected += 1
            try await Self.checkNextClient(setup, cookie: cookie, scheme: overTLS ? "https" : "http", expectedCount: expected)
        }
        #expect(setup.raw.connectionBytes.count == 1, "every request on the one pooled connection")
    }

    // MARK: HTTP/1.1 bodies

    @Test func http1ChunkedAndSizedBodiesArriveFramed() async throws {
        let setup = try await Self.start()
        defer { Task { await setup.stop() } }
        let cookie = try await setup.proxy.login("bob")
        // Counted in bytes: "\r\n" is one Character of a String.
        let body = String(decoding: Self.smuggled, as: UTF8.self)
        let head = String(decoding: Self.smuggled[..<5], as: UTF8.self), tail = String(decoding: Self.smuggled[5...], as: UTF8.self)
        let chunked = "POST /raw/open/chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\n\(head)\r\n\(String(Self.smuggled.count - 5, radix: 16))\r\n\(tail)\r\n0\r\nX-Trailer: t\r\n\r\n"
        let sized = "PUT /raw/open/sized HTTP/1.1\r\nHost: a\r\nContent-Length: \(Self.smuggled.count)\r\nConnection: close\r\n\r\n\(body)"
        let client = try KeepAliveClient(port: setup.proxy.port)
        let first = try client.send(chunked)
        #expect(first.status == 200, "\(first.head)")
        Self.checkFraming(try #require(setup.raw.requests.last), body: Self.smuggled, method: "POST")
        try await Self.checkNextClient(setup, cookie: cookie, expectedCount: 2)
        #expect(try client.send(sized).status == 200)
        Self.checkFraming(try #require(setup.raw.requests.last), body: Self.smuggled, method: "PUT")
        try await Self.checkNextClient(setup, cookie: cookie, expectedCount: 4)
        let empty = "POST /raw/open/empty HTTP/1.0\r\nHost: a\r\n\r\n"
        _ = try await RawSocket.send(port: setup.proxy.port, empty)
        Self.checkFraming(try #require(setup.raw.requests.last), body: [], method: "POST")
        try await Self.checkNextClient(setup, cookie: cookie, expectedCount: 6)
        #expect(setup.raw.connectionBytes.count == 1)
    }

    // MARK: Random shapes

    /// Random methods, lengths declared or not (sometimes wrongly), bodies cut into random DATA
    /// frames and full of request-looking bytes, several streams at once on a few connections:
    /// the backend never parses a request the clients did not send, every well-formed one
    /// arrives with its own body, and a badly declared one is refused whole or cut off.
    @Test func randomHTTP2BodyShapesNeverAddRequests() async throws {
        let setup = try await Self.start()
        defer { Task { await setup.stop() } }
        var random = SplitMix(seed: 0x18_2026_1206)
        var sent: [(path: String, shape: Shape, honest: Bool)] = []
        let methods = ["POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"]
        for index in 0..<120 {
            var body: [UInt8] = []
            for _ in 0..<random.next(4) {
                body += random.next(2) == 0 ? Self.smuggled : (0..<random.next(3000)).map { _ in UInt8(random.next(256)) }
            }
            var pieces: [[UInt8]] = []
            var rest = body[...]
            while !rest.isEmpty {
                let cut = min(rest.count, 1 + random.next(max(1, rest.count)))
                pieces.append(Array(rest.prefix(cut)))
                rest = rest.dropFirst(cut)
            }
            var shape = Shape(name: "random \(index)", method: methods[random.next(methods.count)], pieces: pieces)
            shape.emptyFinalData = random.next(4) == 0
            var honest = true
            switch random.next(6) {
            case 0, 1: shape.declareLength = true
            case 2 where !body.isEmpty:
                shape.lengthValue = String(body.count - 1 - random.next(body.count))  // too short
                honest = false
            case 3:
                shape.lengthValue = String(body.count + 1 + random.next(100))  // too long
                honest = false
            default: break
            }
            sent.append(("/raw/open/random/\(index)", shape, honest))
        }
        // Honest requests: three connections, four streams at a time on each. A wrong
        // content-length is a stream error (RFC 9113 §8.1.1): the dishonest requests share one
        // connection, which each stream error leaves serving (issue 20).
        let clients = try await (0..<3).asyncMap { _ in try await HTTP2TestClient.connect(port: setup.proxy.port, tls: false) }
        defer { Task { for client in clients { await client.close() } } }
        let requests = sent.enumerated().map { (index: $0.offset, honest: $0.element.honest, request: Self.request($0.element.shape, path: $0.element.path)) }
        var statuses: [Int: Int] = [:]
        let honest = requests.filter(\.honest)
        for batch in stride(from: 0, to: honest.count, by: 12) {
            let slice = honest[batch..<min(batch + 12, honest.count)]
            try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
                for item in slice {
                    let client = clients[item.index % clients.count]
                    group.addTask { (item.index, try await client.send(item.request).status) }
                }
                for try await (index, status) in group { statuses[index] = status ?? 0 }
            }
        }
        let shared = try await HTTP2TestClient.connect(port: setup.proxy.port, tls: false)
        for item in requests where !item.honest {
            statuses[item.index] = (try? await shared.send(item.request).status).flatMap { $0 } ?? 0
        }
        let after = try await shared.send(HTTP2TestClient.Request(path: "/raw/open/after", authority: "127.0.0.1"))
        #expect(after.status == 200, "the connection outlived every stream error")
        await shared.close()
        let parsed = setup.raw.requests
        let byPath = Dictionary(grouping: parsed, by: \.uri)
        for (path, list) in byPath where path != "/raw/open/after" {
            #expect(list.count == 1, "\(path) parsed \(list.count) times")
            #expect(sent.contains { $0.path == path }, "the backend parsed a request nobody sent: \(path)")
        }
        for (index, item) in sent.enumerated() where item.honest {
            #expect(statuses[index] == 200, "\(item.shape) got \(statuses[index] ?? -1)")
            guard let forwarded = byPath[item.path]?.first else {
                Issue.record("\(item.path) never reached the backend")
                continue
            }
            Self.checkFraming(forwarded, body: item.shape.body, method: item.shape.method)
        }
        for item in sent where !item.honest {
            if let forwarded = byPath[item.path]?.first {
                // Cut off at its declared length at most, never run on into another request.
                let prefix = item.shape.body.starts(with: forwarded.body)
                #expect(prefix, "\(item.path): what arrived is not what was sent")
            }
        }
    }

    // MARK: Helpers

    static func curl(stdin: [UInt8], _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
