import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking h2c (prior knowledge) connection over a loopback socket that sends exactly the
/// frames a test builds (``RawHTTP2Client``) and reads the server's frames back. Use it off the
/// cooperative pool (``offPool(_:)``).
final class RawHTTP2Connection: @unchecked Sendable {
    private let fd: Int32
    var client = RawHTTP2Client()
    /// Every frame received so far.
    private(set) var frames: [RawFrame] = []
    /// The server closed the connection.
    private(set) var closed = false

    /// Connects and sends the preface, `settings` and the ACK of the server's SETTINGS.
    init(port: Int, settings: [(UInt16, UInt32)] = []) throws {
        fd = try connectLoopback(port: port)
        var tv = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        send(RawFrame.preface + RawFrame.settings(settings).bytes + RawFrame.settings(ack: true).bytes)
    }

    deinit { Glibc.close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Reads until `done` holds for the frames received so far, the server closes, or `timeout`.
    @discardableResult
    func read(timeout: Double = 5, until done: ([RawFrame]) -> Bool) -> [RawFrame] {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !done(frames) && !closed && Date() < deadline {
            let n = Glibc.recv(fd, &buffer, buffer.count, 0)
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                closed = true
            } else if n > 0 {
                frames += client.frames(Array(buffer[0..<n]))
            }
        }
        return frames
    }

    /// Reads until the server closes or `timeout`.
    @discardableResult
    func read(timeout: Double = 5) -> [RawFrame] { read(timeout: timeout) { _ in false } }

    /// Reads until a frame arrives, the server closes, or `timeout`.
    func readSome(timeout: Double) {
        let count = frames.count
        read(timeout: timeout) { $0.count > count }
    }

    /// The responses gathered per stream from every frame so far.
    var responses: [UInt32: RawStreamResponse] { client.responses(frames) }

    var goAway: RawFrame? { frames.last { $0.type == RawFrame.Kind.goAway } }
}
