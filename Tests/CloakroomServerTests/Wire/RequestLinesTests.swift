import CloakroomConfig
import CloakroomProxy
import CloakroomSessions
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Testing

@testable import CloakroomServer

/// The HTTP/1.1 server carries the client fields the policy does not read as raw lines, dropped
/// or copied by ``RequestFieldFilter`` when the upstream head is written. These tests hold that
/// path to the one it replaced: every field made into swift-http-types values, filtered by
/// ``ProxyPolicy/prepareUpstreamRequest(_:exchange:injectionMemo:)`` and written from them.
@Suite struct RequestLinesTests {
    static let secret = "request-lines-tests-secret-0123456789abcdef"

    struct Fixture {
        let policy: ProxyPolicy
        let store: MemorySessionStore
        let cookie: String
        let memo = InjectionMemo()
        /// Shared by every head, as by the requests of one connection.
        let cookieMemo = VerifiedCookieMemo()

        init() async throws {
            var session = SessionSettings()
            session.secrets = [RequestLinesTests.secret]
            var identity = IdentitySettings()
            identity.strip = ["X-User-*", "X-*-Secret-*", "*-Impersonate"]
            let configuration = Configuration(
                listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))],
                session: session, identity: identity,
                routes: [Route(path: "/public/", upstream: "api", auth: .none), Route(path: "/", upstream: "api", auth: .required)],
                upstreams: ["api": Upstream(kind: .echo)])
            store = MemorySessionStore(
                maxSessions: 100,
                timeouts: SessionTimeouts(idle: .seconds(3600), absolute: .seconds(7200), touchInterval: .seconds(60)),
                clock: ManualWallClock())
            policy = ProxyPolicy(
                configuration: configuration, store: store, codec: SessionCookieCodec(secrets: [Array(RequestLinesTests.secret.utf8)]),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let id = SessionID.random()
            _ = try await store.create(key: id.key, attributes: ["sub": "alice", "email": "a@example.com", "roles": ["r", "w"]])
            cookie = policy.cookies.cookiePair(for: id)
        }

        /// Phases 1 to 4; the exchange, and the upstream head as written. With a parsed `head`
        /// as the server does it (the session cookie taken from the raw lines, strip, then the
        /// additions written by the writer); with `request` alone as before (every field in
        /// `request`, additions appended to it).
        func forward(_ head: ClientRequestHead? = nil, request: HTTPRequest? = nil) async throws -> (Exchange, String)? {
            var head = head
            let cookie = head?.takeSessionCookie(policy.cookies, memo: cookieMemo, owner: ObjectIdentifier(policy)) ?? .inFields
            var request = head?.request ?? request!
            let lines = head?.lines
            guard
                case .success(var exchange) = policy.begin(
                    &request, client: ClientInfo(address: "192.0.2.7", isSecure: false), requestID: "rid", cookie: cookie)
            else { return nil }
            if exchange.needsLookup, let key = exchange.presentedID?.key { exchange.session = try await store.lookup(key: key) }
            var buffer = ByteBuffer()
            if let lines {
                if case .taken = cookie { #expect(request.headerFields[.cookie] == nil, "a cookie taken from the bytes is no field") }
                let filter = policy.stripUpstreamRequest(&request)
                let additions = policy.upstreamAdditions(for: exchange, authority: request.authority, injectionMemo: memo)
                HTTP1Writer.writeRequestHead(
                    request, lines: lines, filter: filter, additions: additions, framing: .none, upgrade: nil, into: &buffer)
            } else {
                policy.prepareUpstreamRequest(&request, exchange: exchange)
                HTTP1Writer.writeRequestHead(request, framing: .none, upgrade: nil, into: &buffer)
            }
            return (exchange, String(buffer: buffer))
        }
    }

    /// A head's request line, and each field name (lower case) with its values in order: field
    /// order between different names carries no meaning (RFC 9110 §5.3), within one name it does.
    static func shape(_ head: String) -> (line: String, fields: [String: [String]]) {
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let requestLine = lines.removeFirst()
        var fields: [String: [String]] = [:]
        for line in lines {
            let colon = line.firstIndex(of: ":")!
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[line[..<colon].lowercased(), default: []].append(value)
        }
        return (requestLine, fields)
    }

    /// Field lines a client might send: ordinary ones, identity and forwarding copies in several
    /// spellings, hop-by-hop fields, ones `Connection` names, and the ones the policy reads.
    static let pool: [(String, String)] = [
        ("User-Agent", "curl/8"), ("accept-encoding", "gzip"), ("X-Custom", "one"), ("x-custom", "two"),
        ("Content-Type", "application/json"), ("Authorization", "Bearer abc"), ("X-Hop", "hop"), ("x_hop", "hop2"),
        ("X-User-Id", "mallory"), ("x_user_id", "mallory"), ("X-USER-ROLES", "admin"), ("X-User-Anything", "x"),
        ("X-Team-Secret-Key", "k"), ("x_team_secret_", "k"), ("X-Secret-Key", "kept"), ("Sudo-Impersonate", "root"),
        ("X-Forwarded-For", "10.0.0.1"), ("x_forwarded_proto", "https"), ("X-Forwarded-Host", "evil"),
        ("X-Forwarded-Port", "1"), ("Forwarded", "for=x"), ("X-Real-IP", "10.0.0.2"), ("X-Request-Id", "client-id"),
        ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X"), ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic x"), ("Proxy_Connection", "underscored, not hop-by-hop"),
        ("Accept", "text/html"), ("ACCEPT", "application/json;q=0.5"), ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"), ("sec-fetch-site", "same-origin"), ("Connection", "keep-alive"),
        ("Connection", "X-Hop, x-custom"), ("connection", "close"), ("Connection", "Cookie"), ("Cache-Control", "no-cache"),
        ("Referer", "http://app.example/"), ("Content-Length", "0"), ("X-Empty", ""),
    ]

    @Test func upstreamHeadsMatchTheFullyParsedPath() async throws {
        let fixture = try await Fixture()
        var random = SplitMix(seed: 0x5eed)
        // Cookie lines: ours alone (taken from its bytes), beside others, badly signed, split
        // over several lines (the fields path), in odd spellings and spacing.
        let cookies: [[(String, String)]] = [
            [], [("Cookie", fixture.cookie)], [("cookie", " \(fixture.cookie) ")], [("COOKIE", fixture.cookie)],
            [("Cookie", "a=1; \(fixture.cookie); b=2")], [("Cookie", "theme=dark")], [("Cookie", "\(fixture.cookie)x")],
            [("Cookie", "\(fixture.cookie);")], [("Cookie", "a=1"), ("cookie", fixture.cookie)],
            [("Cookie", fixture.cookie), ("Cookie", fixture.cookie)], [("Cookie", "\(fixture.cookie)x"), ("Cookie", fixture.cookie)],
            [("Cookie", "")],
        ]
        let targets = ["/private?q=1", "/public/page", "/a/../private/x"]
        var compared = 0
        for round in 0..<400 {
            let method = ["GET", "POST", "DELETE", "HEAD"][random.next(4)]
            var fields: [(String, String)] = []
            for _ in 0..<random.next(12) { fields.append(Self.pool[random.next(Self.pool.count)]) }
            for cookie in cookies[random.next(cookies.count)] {
                fields.insert(cookie, at: random.next(fields.count + 1))
            }
            // One Content-Length and one Authorization at most: the parser refuses a repeated one.
            var seen: Set<String> = []
            fields.removeAll { field in
                guard field.0 == "Content-Length" || field.0 == "Authorization" else { return false }
                return !seen.insert(field.0).inserted
            }
            let target = targets[random.next(targets.count)]
            var wire = "\(method) \(target) HTTP/1.1\r\nHost: app.example\r\n"
            for (name, value) in fields { wire += "\(name):\(round % 2 == 0 ? " " : "  ")\(value)\r\n" }
            wire += "\r\n"

            var parser = HTTP1RequestParser(maxHeaderBytes: 8192, secure: false)
            var bytes = ByteBuffer(string: wire)
            guard case .head(let head) = try parser.next(&bytes) else {
                Issue.record("no head: \(wire)")
                continue
            }
            var full = HTTPRequest(
                method: HTTPRequest.Method(method)!, scheme: "http", authority: "app.example", path: target, headerFields: [:])
            for (name, value) in fields { full.headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }

            let split = try await fixture.forward(head)
            let whole = try await fixture.forward(request: full)
            #expect((split == nil) == (whole == nil), "\(wire)")
            guard let (splitExchange, splitHead) = split, let (wholeExchange, wholeHead) = whole else { continue }
            compared += 1
            #expect(splitExchange.presentedID?.key == wholeExchange.presentedID?.key, "\(wire)")
            #expect(splitExchange.session?.handle == wholeExchange.session?.handle, "\(wire)")
            #expect(splitExchange.acceptsHTML == wholeExchange.acceptsHTML, "\(wire)")
            #expect(splitExchange.crossSite == wholeExchange.crossSite, "\(wire)")
            #expect(splitExchange.target == wholeExchange.target && splitExchange.endpoint == wholeExchange.endpoint, "\(wire)")
            let (splitLine, splitFields) = Self.shape(splitHead)
            let (wholeLine, wholeFields) = Self.shape(wholeHead)
            #expect(splitLine == wholeLine, "\(wire)")
            #expect(splitFields == wholeFields, "\(wire)\nsplit:\n\(splitHead)\nwhole:\n\(wholeHead)")
        }
        #expect(compared > 300)
    }

    @Test func onlyTheFieldsThePolicyReadsBecomeValues() throws {
        let wire =
            "GET /p HTTP/1.1\r\nHost: h\r\nUser-Agent:  curl/8 \t\r\ncookie: a=1\r\nX-User-Id: m\r\nAccept: */*\r\n"
            + "Connection: keep-alive\r\nOrigin: http://o\r\nSEC-FETCH-SITE: none\r\nX-Request-Id: r1\r\nContent-Length: 0\r\n\r\n"
        var parser = HTTP1RequestParser(maxHeaderBytes: 8192, secure: false)
        var bytes = ByteBuffer(string: wire)
        guard case .head(let head) = try parser.next(&bytes) else {
            Issue.record("no head")
            return
        }
        #expect(head.request.headerFields.map { "\($0.name.rawName): \($0.value)" }
            == ["User-Agent: curl/8", "Accept: */*", "Connection: keep-alive", "Origin: http://o", "SEC-FETCH-SITE: none"])
        // As the client sent them, trailing blanks aside; the framing fields are still read.
        #expect(String(buffer: head.lines) == "cookie: a=1\r\nX-User-Id: m\r\nX-Request-Id: r1\r\nContent-Length: 0\r\n")
        #expect(head.cookieLines == 1 && String(buffer: head.lines.getSlice(at: head.firstCookieValue.lowerBound, length: head.firstCookieValue.count)!) == "a=1")
        #expect(head.framing.requestID == "r1" && head.framing.contentLength == "0")
    }

    /// The lines buffer is reused from one head to the next once the previous exchange lets go.
    @Test func linesOfEachHeadAreItsOwn() throws {
        var parser = HTTP1RequestParser(maxHeaderBytes: 8192, secure: false)
        var bytes = ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nX-B: 22\r\n\r\n")
        guard case .head(let first) = try parser.next(&bytes), case .end = try parser.next(&bytes),
            case .head(let second) = try parser.next(&bytes)
        else {
            Issue.record("expected two heads")
            return
        }
        #expect(String(buffer: first.lines) == "X-A: 1\r\n", "a head kept alive keeps its lines")
        #expect(String(buffer: second.lines) == "X-B: 22\r\n")
    }

    @Test func theEchoShowsRawLinesAfterTheFilter() throws {
        let lines = ByteBuffer(string: "User-Agent: curl/8\r\nX-User-Id: m\r\nKeep-Alive: 5\r\nX-Custom: a\r\n")
        var fields = HTTPFields()
        var request = HTTPRequest(method: .get, scheme: "http", authority: "h", path: "/", headerFields: [:])
        request.headerFields.append(HTTPField(name: .connection, value: "X-Custom"))
        let policy = ProxyPolicy(
            configuration: Configuration(
                listeners: [Listener(address: SocketAddressSpec(host: "127.0.0.1", port: 0))],
                session: { var s = SessionSettings(); s.secrets = [Self.secret]; return s }(),
                routes: [Route(path: "/", upstream: "api", auth: .none)], upstreams: ["api": Upstream(kind: .echo)]),
            store: MemorySessionStore(
                maxSessions: 1, timeouts: SessionTimeouts(idle: .seconds(60), absolute: .seconds(60), touchInterval: .seconds(1)),
                clock: ManualWallClock()),
            codec: SessionCookieCodec(secrets: [Array(Self.secret.utf8)]), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let exchange = try #require(try? policy.begin(&request, client: ClientInfo(address: "192.0.2.7", isSecure: false), requestID: "r").get())
        let filter = policy.prepareUpstreamRequest(&request, exchange: exchange)
        HTTP1Head.appendFields(lines: lines, filter: filter, to: &fields)
        #expect(fields.map { "\($0.name.rawName): \($0.value)" } == ["User-Agent: curl/8"])
    }
}

/// A small deterministic generator: the same heads on every run.
struct SplitMix {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(_ bound: Int) -> Int {
        guard bound > 0 else { return 0 }
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
