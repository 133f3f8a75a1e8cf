@testable import CloakroomRedis
import CloakroomSessions
import CloakroomStoreConformance
import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization
import Testing

/// Every test that runs a real redis-server, one at a time: many of them measure how fast
/// failures come and recovery happens, which a 2-core machine busy with twenty servers and a
/// throughput run would blur. The pure tests (parser, handler, URL, pool policy) run in parallel.
@Suite(.serialized) struct RedisServerTests {}

let testLogger: Logger = {
    var logger = Logger(label: "cloakroom.redis.tests")
    logger.logLevel = .critical  // the fault tests make the client log on purpose
    return logger
}()

func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
func simple(_ text: String) -> RESPValue { .simpleString(ByteBuffer(string: text)) }
func errorReply(_ text: String) -> RESPValue { .error(ByteBuffer(string: text)) }

/// Parses every reply in `bytes`, which must hold only complete replies.
func parseAll(_ bytes: [UInt8], limits: RESPLimits = .default) throws -> [RESPValue] {
    var buffer = ByteBuffer(bytes: bytes)
    var values: [RESPValue] = []
    let parser = RESPParser(limits: limits)
    while buffer.readableBytes > 0 {
        guard let value = try parser.parse(&buffer) else { throw TestFailure("incomplete reply") }
        values.append(value)
    }
    return values
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh key prefix, so stores sharing one server never see each other's sessions.
func uniquePrefix() -> String { "t\(UUID().uuidString.prefix(8)):" }

/// Store settings for a test server, with short timeouts so fault tests stay quick.
func storeSettings(
    _ url: String, prefix: String = uniquePrefix(), poolSize: Int = 4, connectTimeout: Duration = .milliseconds(500),
    commandTimeout: Duration = .milliseconds(500), tls: TLSConfiguration = .makeClientConfiguration(),
    protocolVersion: RedisClientConfiguration.ProtocolVersion = .resp2
) throws -> RedisSessionStoreSettings {
    try RedisSessionStoreSettings(
        url: url, keyPrefix: prefix, poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
        tls: tls, protocolVersion: protocolVersion
    )
}

func makeStore(
    _ settings: RedisSessionStoreSettings, clock: any WallClock = ManualWallClock(),
    timeouts: SessionTimeouts = SessionStoreConformance.timeouts
) throws -> RedisSessionStore {
    try RedisSessionStore(settings: settings, timeouts: timeouts, clock: clock, logger: testLogger)
}

/// Runs `body` with a store, closing it afterwards, also when `body` throws.
func withStore<T>(_ store: RedisSessionStore, _ body: (RedisSessionStore) async throws -> T) async throws -> T {
    try await withClosing(store, body)
}

/// How long `body` took.
func timed(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}

/// Calls `body` until it returns true or `limit` passes; returns whether it did.
func eventually(within limit: Duration, every interval: Duration = .milliseconds(20), _ body: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await body() { return true }
        try? await Task.sleep(for: interval)
    }
    return await body()
}

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1, made with
/// the `openssl` command line in `directory`.
func makeCertificates(in directory: URL) async throws -> RedisServerProcess.TLSFiles {
    let path = { (name: String) in directory.appendingPathComponent(name).path }
    try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
    try await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.crt"),
                       "-days", "2", "-subj", "/CN=Cloakroom Test CA"])
    try await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"),
                       "-subj", "/CN=localhost"])
    try await openssl(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                       "-CAcreateserial", "-out", path("server.crt"), "-days", "2", "-extfile", path("san.ext")])
    return RedisServerProcess.TLSFiles(certificate: path("server.crt"), privateKey: path("server.key"), caCertificate: path("ca.crt"))
}

private func openssl(_ arguments: [String]) async throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    guard process.terminationStatus == 0 else { throw TestFailure("openssl \(arguments.first ?? "") failed") }
}

/// A client TLS configuration trusting only the test CA.
func trusting(_ files: RedisServerProcess.TLSFiles) throws -> TLSConfiguration {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(files.caCertificate))
    return tls
}

func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-redis-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// A value behind a lock, shareable with `@Sendable` closures.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}
