import Foundation
import Synchronization
import Glibc

/// Process, executable and port helpers of ``RedisSentinelTopology``.
extension RedisSentinelTopology {
    static func executable(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw RedisServerProcess.Failure(description: "\(name) not found on PATH (apt-get install redis-server redis-sentinel)")
    }

    static func run(_ executable: URL, _ arguments: [String]) async throws -> (Int32, String) {
        try await RedisServerProcess.run(executable, arguments)
    }

    /// Ports that were free a moment ago, all different, drawn from 12000-18000: below the
    /// ephemeral range, where the other tests' outgoing connections get their local ports, and
    /// apart from ``RedisServerProcess``'s 20000-32000 (a server of its own that loses a port
    /// race to a sentinel of ours would take the sentinel's PONG for its own). Each is bound to
    /// check it, and held until all are found.
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count * 20 where ports.count < count {
            let port = Int.random(in: 12_000..<18_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw RedisServerProcess.Failure(description: "socket() failed") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if bound && !ports.contains(port) {
                sockets.append(fd)
                ports.append(port)
            } else {
                close(fd)
            }
        }
        guard ports.count == count else { throw RedisServerProcess.Failure(description: "cannot find \(count) free ports") }
        return ports
    }
}
