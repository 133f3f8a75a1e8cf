import CloakroomConfig
import CloakroomStoreConformance
import Foundation
import Glibc
import Synchronization
import Testing

/// End to end, through the real proxy: what a black-box attack suite found (issue 26). Identity
/// aliases over raw sockets and HTTP/2, control headers judged one by one, `no-store` on every
/// answer that sets or deletes the cookie, and damaged records in the file store and in Redis.
@Suite(.serialized) struct HardeningTests {
    static let separators: [Character] = ["!", "#", "$", "%", "&", "'", "*", "+", "-", ".", "^", "_", "`", "|", "~"]

    /// Whether some backend stack (CGI, WSGI, PHP, lighttpd, a case-insensitive map) reads
    /// `name` as an identity header of the harness's configuration (`X-User-Id`, `-Email`,
    /// `-Roles`, and anything under the `X-User-*` strip pattern).
    static func readAsIdentity(_ name: String) -> Bool {
        let key = String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return key.hasPrefix("X_USER_")
    }

    // MARK: Identity aliases

    @Test func noIdentityAliasReachesTheBackendOverHTTP1() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("alice")
        var spoofed = ""
        for s in Self.separators {
            spoofed += "X\(s)User\(s)Id: mallory\r\nx\(s)user\(s)email: m@evil.example\r\nX\(s)USER\(s)Roles: admin\r\nX\(s)User\(s)Tenant: evil\r\n"
        }
        for (path, withCookie) in [("/api/items", true), ("/public/items", false), ("/optional/items", false)] {
            let before = proxy.backend.requests.count
            let request = "GET \(path) HTTP/1.1\r\nHost: app.example\r\n\(spoofed)"
                + (withCookie ? "Cookie: \(cookie)\r\n" : "") + "Connection: close\r\n\r\n"
            let answer = try await RawSocket.send(port: proxy.port, request)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(path): \(answer.prefix(200))")
            #expect(proxy.backend.requests.count == before + 1)
            let seen = try #require(proxy.backend.requests.last)
            let identity = seen.headers.filter { Self.readAsIdentity($0.0) }.map { "\($0.0): \($0.1)" }.sorted()
            let expected = withCookie ? ["X-User-Email: alice@example.com", "X-User-Id: alice", "X-User-Roles: reader, writer"] : []
            #expect(identity == expected, "\(path)")
        }
    }

    /// `Upgrade: h2c` is never relayed: with a backend that accepts it, the tunnel would carry
    /// HTTP/2 requests past routing, authorization and identity stripping (found by an audit).
    /// The request is served as HTTP/1.1, without the upgrade's fields, and the connection
    /// stays HTTP/1.1.
    @Test func anH2CUpgradeIsServedAsHTTP1AndNeverRelayed() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let request = "GET /public/h2c HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAAP__\r\nHTTP2_Settings: x\r\n\r\n"
            + "GET /public/next HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"
        let answer = try await RawSocket.send(port: proxy.port, request)
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(200))")
        #expect(!answer.contains("101"), "no switch")
        #expect(proxy.backend.requests.map(\.uri) == ["/public/h2c", "/public/next"], "the next request is HTTP/1.1 too")
        let seen = try #require(proxy.backend.requests.first)
        for name in ["upgrade", "http2-settings", "http2_settings"] {
            #expect(seen.values(name).isEmpty, "\(name)")
        }
        #expect(!(seen.value("connection") ?? "").lowercased().contains("upgrade"))
    }

    @Test func noIdentityAliasReachesTheBackendOverHTTP2() async throws {
        let proxy = try await ProxyHarness.start()
        defer { Task { await proxy.stop() } }
        let cookie = try await proxy.login("bob")
        var arguments = ["--http2-prior-knowledge", "-H", "Cookie: \(cookie)"]
        for s in Self.separators {
            arguments += ["-H", "x\(s)user\(s)id: mallory", "-H", "x\(s)user\(s)roles: admin"]
        }
        let response = try await Curl.get("\(proxy.base)/api/h2", arguments)
        #expect(response.status == 200 && response.version == "2", "\(response.status) \(response.version)")
        let seen = try #require(proxy.backend.requests.last)
        let identity = seen.headers.filter { Self.readAsIdentity($0.0) }.map { "\($0.0.lowercased()): \($0.1)" }.sorted()
        #expect(identity == ["x-user-email: bob@example.com", "x-user-id: bob", "x-user-roles: reader, writer"])
    }

    // MARK: Control headers and caching

    /// A harness whose `/scripted/` routes (and `login.path`, `/scripted/login`) go to a
    /// backend answering with the control headers a test chooses.
    static func scripted(_ answer: @escaping @Sendable (String) -> String) async throws -> (ProxyHarness, ScriptedBackend) {
        let backend = try ScriptedBackend(answer: answer)
        let proxy = try await ProxyHarness.start { configuration in
            configuration.upstreams["scripted"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backend.port)]))
            configuration.routes.insert(Route(path: "/scripted/", upstream: "scripted", auth: .required), at: 0)
            configuration.login.path = "/scripted/login"
        }
        return (proxy, backend)
    }

    /// `/scripted/login?sub=X` logs X in; `/scripted/both` sends an ignored `Session-Login`
    /// beside `Session-Logout: current`; `/scripted/logout-all`; anything else 200. Each with a
    /// `Cache-Control` a shared cache would honour.
    static func controlAnswer(_ head: String) -> String {
        let target = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        var fields = "Cache-Control: public, max-age=600\r\n"
        if target.hasPrefix("/scripted/login?sub=") {
            fields += "Session-Login: {\"sub\":\"\(target.dropFirst("/scripted/login?sub=".count))\"}\r\n"
        } else if target == "/scripted/both" {
            fields += "Session-Login: {\"sub\":\"mallory\"}\r\nSession-Logout: current\r\n"
        } else if target == "/scripted/logout-all" {
            fields += "Session-Logout: all\r\n"
        }
        return "HTTP/1.1 200 OK\r\n\(fields)Content-Length: 2\r\nConnection: close\r\n\r\nok"
    }

    /// Found by an audit: a response refused for its framing was logged as no response at all.
    @Test func aMalformedResponseIsLoggedAsMalformed() async throws {
        let backend = try ScriptedBackend { _ in "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok" }
        let (logger, lines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(logger: logger) { configuration in
            configuration.upstreams["scripted"] = Upstream(kind: .targets([UpstreamTarget(host: "127.0.0.1", port: backend.port)]))
            configuration.routes.insert(Route(path: "/scripted/", upstream: "scripted", auth: .none), at: 0)
        }
        defer { Task { await proxy.stop(); backend.stop() } }
        #expect(try await Curl.get("\(proxy.base)/scripted/x").status == 502)
        let failed = lines.all.filter { $0.contains("request failed") }
        #expect(failed.count == 1 && failed.allSatisfy { $0.contains("detail=upstream response malformed") }, "\(failed)")
    }

    @Test func anIgnoredLoginDoesNotCancelTheLogoutBesideIt() async throws {
        let (proxy, backend) = try await Self.scripted(Self.controlAnswer)
        defer { Task { await proxy.stop(); backend.stop() } }
        let login = try await Curl.get("\(proxy.base)/scripted/login?sub=alice")
        let cookie = try #require(login.header("set-cookie")?.split(separator: ";").first.map(String.init))
        #expect(try await Curl.get("\(proxy.base)/scripted/me", ["-H", "Cookie: \(cookie)"]).status == 200)

        let both = try await Curl.get("\(proxy.base)/scripted/both", ["-H", "Cookie: \(cookie)"])
        #expect(both.status == 200)
        #expect(both.headers("set-cookie").count == 1)
        #expect(both.header("set-cookie")?.contains("Max-Age=0") == true, "the deletion cookie")
        #expect(both.header("session-login") == nil && both.header("session-logout") == nil)
        #expect(try await Curl.get("\(proxy.base)/scripted/me", ["-H", "Cookie: \(cookie)"]).status == 401, "the session ended")
    }

    @Test func everyAnswerThatSetsOrDeletesTheCookieIsNoStore() async throws {
        let (proxy, backend) = try await Self.scripted(Self.controlAnswer)
        defer { Task { await proxy.stop(); backend.stop() } }
        let login = try await Curl.get("\(proxy.base)/scripted/login?sub=carol")
        #expect(login.header("set-cookie") != nil)
        #expect(login.headers("cache-control") == ["no-store"], "Session-Login: \(login.headers("cache-control"))")
        let cookie = try #require(login.header("set-cookie")?.split(separator: ";").first.map(String.init))

        let plain = try await Curl.get("\(proxy.base)/scripted/me", ["-H", "Cookie: \(cookie)"])
        #expect(plain.headers("cache-control") == ["public, max-age=600"], "an ordinary answer keeps the backend's caching")

        let logoutAll = try await Curl.get("\(proxy.base)/scripted/logout-all", ["-H", "Cookie: \(cookie)"])
        #expect(logoutAll.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(logoutAll.headers("cache-control") == ["no-store"], "Session-Logout")

        let again = try #require(try await Curl.get("\(proxy.base)/scripted/login?sub=carol").header("set-cookie")?.split(separator: ";").first)
        let logout = try await Curl.get("\(proxy.base)/logout", ["-X", "POST", "-H", "Cookie: \(again)"])
        #expect(logout.status == 204 && logout.headers("cache-control") == ["no-store"], "the logout endpoint")

        let dead = try await Curl.get("\(proxy.base)/scripted/me", ["-H", "Cookie: \(again)"])
        #expect(dead.status == 401 && dead.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(dead.headers("cache-control") == ["no-store"], "the 401 that deletes a dead cookie")
    }

    // MARK: Damaged records

    /// What a client with a damaged record's cookie sees: 401 with the deletion cookie (never
    /// 503), logout answered, and a new login that works.
    static func expectTreatedAsNoSession(_ proxy: BinaryHarness, cookie: String) async throws {
        let required = try await Curl.get("\(proxy.base)/api/me", ["-H", "Cookie: \(cookie)"])
        #expect(required.status == 401, "\(required.status) \(required.body)")
        #expect(required.body == "{\"error\":\"unauthenticated\"}")
        #expect(required.header("set-cookie")?.hasPrefix("cloakroom_session=;") == true)
        #expect(required.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(try await Curl.get("\(proxy.base)/public/x", ["-H", "Cookie: \(cookie)"]).status == 200)
        let logout = try await Curl.get("\(proxy.base)/logout", ["-X", "POST", "-H", "Cookie: \(cookie)"])
        #expect(logout.status == 204)
        let fresh = try await Curl.get("\(proxy.base)/login?sub=alice", ["-H", "Cookie: \(cookie)"])
        let newCookie = try #require(fresh.header("set-cookie")?.split(separator: ";").first.map(String.init))
        #expect(try await proxy.status(newCookie) == 200)
        #expect(proxy.backend.requests.last?.value("X-User-Id") == "alice")
    }

    @Test func aDamagedRecordInTheFileStoreIsNoSession() async throws {
        let proxy = try await BinaryHarness(store: "file: { path: \"$DB\" }")
        defer { Task { await proxy.finish() } }
        try await proxy.start()
        let alice = try await proxy.login("alice")
        let bob = try await proxy.login("bob")
        try await proxy.stop()
        try sqlite(proxy.databasePath, "UPDATE sessions SET attributes = '{\"sub\":\"alice\",' WHERE subject = 'alice';")
        try await proxy.start()

        try await Self.expectTreatedAsNoSession(proxy, cookie: alice)
        #expect(try await proxy.status(bob) == 200, "other sessions are untouched")
        // The damaged row is gone from the file (written behind: give the writer a moment).
        var rows = ""
        for _ in 0..<50 {
            rows = try sqlite(proxy.databasePath, "SELECT count(*) FROM sessions WHERE attributes = '{\"sub\":\"alice\",';")
            if rows == "0" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(rows == "0")
    }

    @Test func aDamagedRecordInRedisIsNoSession() async throws {
        try await RedisServerProcess.with { redis in
            let proxy = try await BinaryHarness(store: "redis: { url: \"\(redis.url)\", key_prefix: \"dmg:\" }")
            defer { Task { await proxy.finish() } }
            try await proxy.start()
            let alice = try await proxy.login("alice")
            let bob = try await proxy.login("bob")
            let aliceKey = try #require(try await Self.redisKey(of: "alice", in: redis))
            _ = try await redis.cli(["HSET", aliceKey, "a", "not json at all"])

            try await Self.expectTreatedAsNoSession(proxy, cookie: alice)
            #expect(try await redis.cli(["EXISTS", aliceKey]) == "0", "the damaged record is deleted")
            #expect(try await proxy.status(bob) == 200, "other sessions are untouched")

            // A store that cannot be reached is still 503, never "no session".
            await redis.kill()
            #expect(try await proxy.status(bob) == 503)
        }
    }

    /// The audit's repro: a Redis record whose timestamp is not a number (`HSET <s:key> c
    /// notanumber`, the same with `l`) used to end with 401 and its hash deleted, but nothing
    /// else: no log line, no audit line, no `damaged` count, its handle key and user index
    /// entry left behind. Now it ends as every damaged record does.
    @Test func malformedTimestampsInRedisEndAsEveryDamagedRecord() async throws {
        try await RedisServerProcess.with { redis in
            let proxy = try await BinaryHarness(store: "redis: { url: \"\(redis.url)\", key_prefix: \"dmg:\" }")
            defer { Task { await proxy.finish() } }
            try await proxy.start()
            var handles: [String] = []
            for field in ["c", "l"] {
                let alice = try await proxy.login("alice")
                let record = try #require(try await Self.redisKey(of: "alice", in: redis))
                let handle = try await redis.cli(["HGET", record, "h"])
                handles.append(handle)
                #expect(try await redis.cli(["GET", "dmg:h:\(handle)"]) == String(record.dropFirst("dmg:s:".count)))
                _ = try await redis.cli(["HSET", record, field, "notanumber"])
                #expect(try await proxy.status(alice) == 401, "\(field)")
                #expect(try await redis.cli(["EXISTS", record, "dmg:h:\(handle)", "dmg:u:alice"]) == "0", "\(field): every key of it")
            }
            let metrics = try await Curl.get("\(proxy.admin)/metrics", AuditLogTests.auth).body
            #expect(metrics.contains("cloakroom_sessions_ended_total{reason=\"damaged\"} 2\n"), "\(metrics)")
            let lines = try await AuditLogTests.lines(proxy) { audit in
                handles.allSatisfy { handle in audit.contains { $0["event"] as? String == "ended" && $0["handle"] as? String == handle } }
            }
            for handle in handles {
                let line = try #require(AuditLogTests.ending(lines, handle), "no audit line for \(handle)")
                #expect(line["reason"] as? String == "damaged", "\(line)")
            }
            let logged = try String(contentsOfFile: proxy.stderrPath, encoding: .utf8).split(separator: "\n")
                .filter { $0.contains("damaged session record deleted") }
            #expect(logged.count == 2, "\(logged)")
            for handle in handles { #expect(logged.contains { $0.contains(handle) }, "\(handle): \(logged)") }
        }
    }

    /// The `s:` key of `sub`'s only session.
    static func redisKey(of sub: String, in redis: RedisServerProcess) async throws -> String? {
        for key in try await redis.cli(["KEYS", "dmg:s:*"]).split(separator: "\n").map(String.init) {
            if try await redis.cli(["HGET", key, "u"]) == sub { return key }
        }
        return nil
    }
}

/// Runs `sqlite3 PATH SQL` and returns its output, trimmed.
@discardableResult
func sqlite(_ path: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, sql]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw POSIXError(.EIO) }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A backend on a blocking loopback socket that answers each request head with what `answer`
/// returns for it, then closes: for responses the shared ``TestBackend`` does not send.
final class ScriptedBackend: Sendable {
    let port: Int
    private let fd: Int32

    init(answer: @escaping @Sendable (String) -> String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                var head: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
                    let n = recv(client, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    head.append(contentsOf: buffer[0..<n])
                }
                let reply = Array(answer(String(decoding: head, as: UTF8.self)).utf8)
                _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.close(client)
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}
