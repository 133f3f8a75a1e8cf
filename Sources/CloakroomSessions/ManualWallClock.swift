import struct Foundation.Date
import Synchronization

/// A ``WallClock`` that moves only when told to, for tests: advance it past a timeout instead
/// of sleeping.
///
/// - Important: Safe to share between tasks; reads and advances are serialized by a mutex.
public final class ManualWallClock: WallClock, Sendable {
    private let current: Mutex<Date>

    /// A clock reading `start` (by default a fixed instant in 2027, so tests are reproducible).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    /// Moves the clock forward (or, with a negative duration, back) by `duration`.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.timeInterval) }
    }

    /// Sets the clock to `date`.
    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }

    public func now() -> Date {
        current.withLock { $0 }
    }
}
