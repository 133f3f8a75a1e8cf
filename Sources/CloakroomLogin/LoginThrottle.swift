import CloakroomSessions
import Crypto
import struct Foundation.Date
import Synchronization

/// Slows down password guessing. Failed logins are counted per username and per client
/// address. Once a key has `maxFailures` failures, each further attempt on it must wait a delay
/// that doubles with every further failure — 1 s, 2 s, 4 s, … — up to `maxDelay`, counted from
/// its latest failure. A key whose latest failure is `window` old is forgotten.
///
/// The server asks ``admit(username:client:)`` before checking a password (and answers 429
/// with `Retry-After` when it returns a delay). An admitted attempt counts as a failure from
/// that moment, in the same lock as the check, so attempts sent at once cannot all pass before
/// the first fails (found by a black-box audit: 20 parallel guesses were all checked). While an
/// admitted attempt is being checked, a key at its limit makes others wait its whole delay; the
/// outcome is then recorded: ``recordAdmittedFailure(username:client:)`` starts the delay
/// again from the failure, ``recordAdmittedSuccess(username:client:)`` takes the count back.
/// Refused attempts are not failures: only checked passwords count.
///
/// A success clears the username's count but not the client's, so an attacker holding one
/// valid account cannot reset its address's count between guesses at others.
///
/// Memory is bounded: at most `maxTrackedKeys` keys are kept; beyond that, forgotten keys are
/// swept and then the keys with the oldest latest failure are dropped. Keys are stored as
/// SHA-256 digests, so a long username costs no more than a short one.
///
/// - Important: Thread-safe; every method takes one short lock and does no I/O.
public final class LoginThrottle: Sendable {
    /// The limits. Both counts (username and client) use the same ones.
    public struct Settings: Sendable, Equatable {
        /// Failures a key may have before attempts on it are delayed.
        public var maxFailures: Int
        /// How long a key's failures are remembered after its latest one.
        public var window: Duration
        /// The longest delay.
        public var maxDelay: Duration

        public init(maxFailures: Int = 5, window: Duration = .seconds(900), maxDelay: Duration = .seconds(900)) {
            self.maxFailures = maxFailures
            self.window = window
            self.maxDelay = maxDelay
        }
    }

    public let settings: Settings
    /// The most keys (usernames plus client addresses) tracked at once.
    public let maxTrackedKeys: Int
    private let clock: any WallClock
    private let entries: Mutex<[Key: Entry]>

    private struct Key: Hashable {
        var digest: SHA256.Digest

        init(_ kind: String, _ value: String) {
            var hasher = SHA256()
            hasher.update(data: Array(kind.utf8))
            hasher.update(data: [0])
            hasher.update(data: Array(value.utf8))
            digest = hasher.finalize()
        }
    }

    private struct Entry {
        var failures: Int
        var latestFailure: Date
        /// Admitted attempts whose outcome is not recorded yet.
        var pending = 0
    }

    public init(settings: Settings, clock: any WallClock, maxTrackedKeys: Int = 100_000) {
        precondition(maxTrackedKeys >= 2, "LoginThrottle needs room for at least one username and one client")
        self.settings = settings
        self.clock = clock
        self.maxTrackedKeys = maxTrackedKeys
        entries = Mutex([:])
    }

    /// `nil` when an attempt for `username` from `client` may proceed now; otherwise how long
    /// until it may (the longer of the two keys' delays).
    public func retryAfter(username: String, client: String) -> Duration? {
        let now = clock.now()
        let keys = [Key("user", username), Key("client", client)]
        let remaining = entries.withLock { entries in
            keys.compactMap { entries[$0] }.map { wait(for: $0, now: now) }.max() ?? 0
        }
        return remaining > 0 ? .seconds(remaining) : nil
    }

    /// `nil` when a password for `username` from `client` may be checked now, and the attempt
    /// is then counted as a failure against both; otherwise how long until it may.
    public func admit(username: String, client: String) -> Duration? {
        let now = clock.now()
        let keys = [Key("user", username), Key("client", client)]
        let remaining = entries.withLock { entries in
            let remaining = keys.compactMap { entries[$0] }.map { wait(for: $0, now: now) }.max() ?? 0
            if remaining <= 0 { count(keys, in: &entries, now: now, pending: true) }
            return remaining
        }
        return remaining > 0 ? .seconds(remaining) : nil
    }

    /// A right password after ``admit(username:client:)``: clears the username's count and
    /// takes back the client's failure the admission counted.
    public func recordAdmittedSuccess(username: String, client: String) {
        let user = Key("user", username), address = Key("client", client)
        entries.withLock { entries in
            entries.removeValue(forKey: user)
            guard var entry = entries[address] else { return }
            entry.failures -= 1
            entry.pending = max(0, entry.pending - 1)
            entries[address] = entry.failures > 0 || entry.pending > 0 ? entry : nil
        }
    }

    /// A wrong password (or unknown user) after ``admit(username:client:)``, already counted:
    /// the delay now runs from this failure.
    public func recordAdmittedFailure(username: String, client: String) {
        let now = clock.now()
        entries.withLock { entries in
            for key in [Key("user", username), Key("client", client)] {
                guard var entry = entries[key] else { continue }
                entry.pending = max(0, entry.pending - 1)
                entry.latestFailure = now
                entries[key] = entry
            }
        }
    }

    /// Counts a wrong password (or unknown user) against both the username and the client.
    public func recordFailure(username: String, client: String) {
        let now = clock.now()
        let keys = [Key("user", username), Key("client", client)]
        entries.withLock { count(keys, in: &$0, now: now, pending: false) }
    }

    /// Clears the username's count. The client's count stays (see the type's documentation).
    public func recordSuccess(username: String, client: String) {
        let key = Key("user", username)
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    private func count(_ keys: [Key], in entries: inout [Key: Entry], now: Date, pending: Bool) {
        for key in keys {
            if var entry = entries[key], !isForgotten(entry, now: now) {
                entry.failures += 1
                entry.latestFailure = now
                if pending { entry.pending += 1 }
                entries[key] = entry
            } else {
                entries[key] = Entry(failures: 1, latestFailure: now, pending: pending ? 1 : 0)
            }
        }
        if entries.count > maxTrackedKeys { evict(from: &entries, now: now) }
    }

    /// How many keys are tracked now, for metrics and tests.
    public var trackedKeyCount: Int {
        entries.withLock { $0.count }
    }

    /// Seconds until `entry` allows an attempt; 0 or less when it does now.
    private func wait(for entry: Entry, now: Date) -> Double {
        guard entry.failures >= settings.maxFailures, !isForgotten(entry, now: now) else { return 0 }
        // 2^(failures − maxFailures) seconds; the exponent is capped well before Double trouble.
        let doublings = min(entry.failures - settings.maxFailures, 62)
        let delay = min(Double(1 << doublings), settings.maxDelay.timeInterval)
        // An attempt still being checked has not failed yet: its delay has not begun.
        guard entry.pending == 0 else { return delay }
        return entry.latestFailure.addingTimeInterval(delay).timeIntervalSince(now)
    }

    private func isForgotten(_ entry: Entry, now: Date) -> Bool {
        now.timeIntervalSince(entry.latestFailure) >= settings.window.timeInterval
    }

    /// Drops forgotten keys; if that is not enough, the oldest tenth of the cap, so the sort is
    /// paid once per many insertions rather than on each.
    private func evict(from entries: inout [Key: Entry], now: Date) {
        entries = entries.filter { !isForgotten($0.value, now: now) }
        guard entries.count > maxTrackedKeys else { return }
        let target = maxTrackedKeys - max(1, maxTrackedKeys / 10)
        let oldestFirst = entries.sorted { $0.value.latestFailure < $1.value.latestFailure }
        for (key, _) in oldestFirst.prefix(entries.count - target) {
            entries.removeValue(forKey: key)
        }
    }
}
