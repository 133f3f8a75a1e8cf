import Foundation

/// A blocking WebSocket client over a plain socket (RFC 6455): the opening handshake with
/// whatever headers a test wants, masked text frames out, frames in. Run it through `offPool`.
final class WebSocketClient: @unchecked Sendable {
    struct Frame: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// The status code of a close frame.
        var closeCode: UInt16? { opcode == 0x8 && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    /// The status code of the handshake response, and its head as text.
    private(set) var status = 0
    private(set) var responseHead = ""

    /// Connects and sends the upgrade request for `path` with `headers` ("Name: value"), with
    /// `Host: host` (default `127.0.0.1:port`).
    init(port: Int, path: String, host: String? = nil, headers: [String] = []) throws {
        fd = try connectLoopback(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        request += "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(key)\r\n"
        for header in headers { request += header + "\r\n" }
        request += "\r\n"
        try send(Array(request.utf8))
        try readHandshake()
    }

    deinit { Glibc.close(fd) }

    func sendText(_ text: String) throws {
        let payload = Array(text.utf8)
        precondition(payload.count < 126)
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)] + mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try send(frame)
    }

    /// The next frame, or `nil` when the connection closed or `timeout` passed.
    func readFrame(timeout: Double = 5) throws -> Frame? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let frame = takeFrame() { return frame }
            guard fill(until: deadline) else { return nil }
        }
    }

    /// Waits for the server to close the connection; returns the frames received before.
    func framesUntilClosed(timeout: Double = 5) throws -> [Frame] {
        var frames: [Frame] = []
        while let frame = try readFrame(timeout: timeout) { frames.append(frame) }
        return frames
    }

    // MARK: Internals

    private func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw POSIXError(.EPIPE) }
    }

    private func readHandshake() throws {
        let deadline = Date().addingTimeInterval(5)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: end) {
                responseHead = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                status = Int(responseHead.split(separator: " ").dropFirst().first ?? "") ?? 0
                return
            }
            guard fill(until: deadline) else {
                responseHead = String(decoding: buffer, as: UTF8.self)
                status = Int(responseHead.split(separator: " ").dropFirst().first ?? "") ?? 0
                return
            }
        }
    }

    /// Reads more bytes; false on close or timeout.
    private func fill(until deadline: Date) -> Bool {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var tv = timeval(tv_sec: Int(remaining), tv_usec: Int((remaining - Double(Int(remaining))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = Glibc.recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// A whole unmasked server frame from the front of the buffer, if there is one.
    private func takeFrame() -> Frame? {
        guard buffer.count >= 2 else { return nil }
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard buffer.count >= offset + length else { return nil }
        let frame = Frame(opcode: buffer[0] & 0x0F, payload: Array(buffer[offset..<(offset + length)]))
        buffer.removeSubrange(..<(offset + length))
        return frame
    }
}
