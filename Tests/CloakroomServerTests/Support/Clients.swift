import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP response from a real client.
struct ClientResponse {
    var status: Int
    var headers: [(String, String)]
    var body: String
    /// The HTTP version of the status line: "1.1", "2".
    var version = ""

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    func headers(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
}

/// curl, the real HTTP client.
enum Curl {
    static func request(_ url: String, _ arguments: [String] = []) throws -> ClientResponse {
        let output = try run(["-s", "-i", "--max-time", "20"] + arguments + [url])
        return parse(output)
    }

    /// Runs curl and returns its standard output.
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func parse(_ output: String) -> ClientResponse {
        var rest = Substring(output)
        while true {
            guard let end = rest.range(of: "\r\n\r\n") else { return ClientResponse(status: 0, headers: [], body: String(rest)) }
            let head = rest[..<end.lowerBound]
            rest = rest[end.upperBound...]
            let lines = head.split(separator: "\r\n")
            let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            let version = lines.first.map { String($0.split(separator: " ").first?.dropFirst("HTTP/".count) ?? "") } ?? ""
            if (100..<200).contains(status) { continue }
            let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            return ClientResponse(status: status, headers: headers, body: String(rest), version: version)
        }
    }
}

/// A blocking TCP socket connected to `127.0.0.1:port`; the caller closes it.
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        Glibc.close(fd)
        throw POSIXError(.ECONNREFUSED)
    }
    return fd
}

/// A raw TCP client for bytes no well-behaved HTTP client would send.
enum RawSocket {
    /// Sends `request`, then reads until the server closes or `timeout` passes.
    static func exchange(port: Int, _ request: String, timeout: Double = 5) throws -> String {
        try exchange(port: port, Array(request.utf8), timeout: timeout)
    }

    static func exchange(port: Int, _ bytes: [UInt8], timeout: Double = 5) throws -> String {
        String(decoding: try exchangeBytes(port: port, bytes, timeout: timeout), as: UTF8.self)
    }

    /// Sends `bytes`, then returns every byte received until the server closes or `timeout`.
    static func exchangeBytes(port: Int, _ bytes: [UInt8], timeout: Double = 5) throws -> [UInt8] {
        try exchangeUntilClosed(port: port, bytes, timeout: timeout).bytes
    }

    /// What a server sent, and whether it ended the connection itself (EOF or reset) rather than
    /// leaving it open until the client's `timeout`. Checks that the server closed a connection
    /// read `closedByServer`, not the wall clock, so a loaded machine cannot fail them.
    struct Reply {
        var bytes: [UInt8]
        var closedByServer: Bool
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Sends `bytes`, then reads until the server closes or `timeout` passes.
    static func exchangeUntilClosed(port: Int, _ bytes: [UInt8], timeout: Double = 30) throws -> Reply {
        let fd = try connectLoopback(port: port)
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let n = Glibc.recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return Reply(bytes: received, closedByServer: true) }
            if n < 0 {
                if errno == EINTR { continue }
                let reset = errno == ECONNRESET || errno == EPIPE
                return Reply(bytes: received, closedByServer: reset)
            }
            received.append(contentsOf: buffer[0..<n])
        }
        return Reply(bytes: received, closedByServer: false)
    }

    static func exchangeUntilClosed(port: Int, _ request: String, timeout: Double = 30) throws -> Reply {
        try exchangeUntilClosed(port: port, Array(request.utf8), timeout: timeout)
    }
}

/// One keep-alive HTTP/1.1 connection, for checks that several requests share it. Reads each
/// response head and a `Content-Length` body.
final class KeepAliveClient: @unchecked Sendable {
    private let fd: Int32
    private var pending: [UInt8] = []

    init(port: Int, timeout: Double = 5) throws {
        fd = try connectLoopback(port: port)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    /// Sends `request` and returns the status code and the head's text; throws if the server
    /// closed before a whole response.
    func send(_ request: String) throws -> (status: Int, head: String) {
        _ = Array(request.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let terminator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = pending.indices.first(where: { pending[$0...].starts(with: terminator) }) {
                let head = String(decoding: pending[..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").lazy
                    .compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingCharacters(in: .whitespaces))
                    }.first ?? 0
                while pending.count < end + 4 + length { try receive() }
                pending.removeFirst(end + 4 + length)
                let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                return (status, head)
            }
            try receive()
        }
    }

    private func receive() throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = Glibc.recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { throw POSIXError(.ECONNRESET) }
        pending.append(contentsOf: buffer[0..<n])
    }
}

/// Runs blocking client work on a thread of its own, never on the cooperative pool (which the
/// proxy's own tasks need while the client waits). Not on Dispatch's global queue either: on
/// Linux its pool grows slowly past the core count, so a few clients blocked for seconds (a
/// stream read until the server closes it, say) held up every other test's requests for as
/// long; on a loaded two-core machine, logins in four harnesses got no answer within 20 s.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.stackSize = 4 << 20
        thread.start()
    }
}

extension Curl {
    static func get(_ url: String, _ arguments: [String] = []) async throws -> ClientResponse {
        try await offPool { try request(url, arguments) }
    }
}

extension RawSocket {
    static func send(port: Int, _ request: String, timeout: Double = 5) async throws -> String {
        try await offPool { try exchange(port: port, request, timeout: timeout) }
    }

    static func sendUntilClosed(port: Int, _ request: String, timeout: Double = 30) async throws -> Reply {
        try await offPool { try exchangeUntilClosed(port: port, request, timeout: timeout) }
    }
}
