import NIOCore
import Synchronization

/// Every open client connection, so that shutdown can close those still open when
/// `shutdown_timeout` has passed. Touched once per connection, not per request.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLock { $0.removeValue(forKey: id) }
        }
    }

    /// Closes every registered connection; returns how many there were.
    @discardableResult
    func closeAll() -> Int {
        let open = channels.withLock { $0 }
        for channel in open.values { channel.close(promise: nil) }
        return open.count
    }

    var count: Int { channels.withLock { $0.count } }
}
