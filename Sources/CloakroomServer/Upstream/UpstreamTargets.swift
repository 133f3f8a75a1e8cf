import CloakroomConfig
import NIOCore
import Synchronization

/// State about an upstream's targets shared by every event loop's pool: the round-robin cursor,
/// open-connection counts (for `max_connections` per target) and which targets recently
/// refused connections (skipped for a short while).
final class UpstreamTargets: Sendable {
    let name: String
    let targets: [UpstreamTarget]
    let settings: Upstream
    /// Each target's address, resolved once at start (like nginx without a `resolver`);
    /// `nil` when resolution failed then, in which case each connect resolves again.
    let addresses: [SocketAddress?]
    /// How long a target that failed to connect is skipped when another is available.
    static let failurePenalty = TimeAmount.seconds(5)

    private final class Counters: Sendable {
        let open = Atomic<Int>(0)
        /// Uptime nanoseconds until which the target is skipped.
        let skipUntil = Atomic<Int64>(0)
    }

    private let cursor = Atomic<Int>(0)
    private let counters: [Counters]

    init(name: String, targets: [UpstreamTarget], settings: Upstream) {
        self.name = name
        self.targets = targets
        self.settings = settings
        self.counters = targets.map { _ in Counters() }
        self.addresses = targets.map { target in
            (try? SocketAddress(ipAddress: target.host, port: target.port))
                ?? (try? SocketAddress.makeAddressResolvingHost(target.host, port: target.port))
        }
    }

    /// Target indices in the order to try for one request: round robin, targets that recently
    /// failed moved to the back (still tried if everything else fails).
    func order() -> [Int] {
        let count = targets.count
        if count == 1 { return [0] }
        let start = cursor.add(1, ordering: .relaxed).oldValue
        let now = NIODeadline.now().uptimeNanoseconds
        var healthy: [Int] = [], failed: [Int] = []
        for offset in 0..<count {
            let index = (start &+ offset) % count
            if Int64(bitPattern: now) < counters[index].skipUntil.load(ordering: .relaxed) { failed.append(index) } else { healthy.append(index) }
        }
        return healthy + failed
    }

    func markFailed(_ index: Int) {
        let until = NIODeadline.now() + Self.failurePenalty
        counters[index].skipUntil.store(Int64(bitPattern: until.uptimeNanoseconds), ordering: .relaxed)
    }

    func markHealthy(_ index: Int) {
        counters[index].skipUntil.store(0, ordering: .relaxed)
    }

    /// Reserves a connection slot for `index`; false when `max_connections` are open.
    func reserve(_ index: Int) -> Bool {
        var current = counters[index].open.load(ordering: .relaxed)
        while current < settings.maxConnections {
            let (exchanged, original) = counters[index].open.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func releaseSlot(_ index: Int) {
        counters[index].open.subtract(1, ordering: .relaxed)
    }
}
