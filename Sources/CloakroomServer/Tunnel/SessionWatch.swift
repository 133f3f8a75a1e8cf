import CloakroomSessions
import Logging
import NIOCore
import Synchronization

/// Open tunnels (WebSocket and other upgrades) and long-lived responses (HTTP/1.1 streaming,
/// HTTP/2 streams), by the session behind them, so that they end when their session does.
///
/// A session can end in many ways: logout, an admin revoke, `Session-Logout`, another
/// instance's revoke on a shared store, idle or absolute expiry. Rather than hooking each, the
/// watch asks the store every ``interval`` which of the watched sessions are still live
/// (``SessionStore/liveKeys(among:)``, one batch, never touching them) and ends the others:
/// so a tunnel closes at most one interval plus a store round trip after its session ended,
/// whatever the cause. A store that announces revocations (``SessionEndingSource``, Redis
/// pub/sub) ends them at once.
///
/// Registrations live per event loop and are touched only on their loop, so registering costs
/// a dictionary insert and no lock. If the store cannot be asked, nothing is ended (a store
/// outage is not a logout) and the next poll tries again; new requests get 503 meanwhile.
final class SessionWatch: Sendable {
    static let defaultInterval: Duration = .milliseconds(250)

    typealias Token = Int

    struct Entry {
        /// The session's store key, or the API key's (``APIKeySecret``).
        let key: SessionKey
        let subject: String
        /// Behind an API key rather than a session: asked about in the key store, and ended by
        /// the poll only (announced endings are sessions').
        let isAPIKey: Bool
        let end: () -> Void
    }

    /// One event loop's registrations.
    ///
    /// - Important: Touched only on `loop`; that invariant is what makes it `Sendable`.
    final class LoopRegistry: @unchecked Sendable {
        let loop: any EventLoop
        var entries: [Token: Entry] = [:] {
            didSet { watching.store(entries.count, ordering: .relaxed) }
        }
        var nextToken: Token = 0
        /// `entries.count`, readable from any thread: an ending announced while this loop
        /// watches nothing (nearly always: most logins end a session nobody streams from)
        /// costs no task on the loop, and no wake-up of it.
        let watching = Atomic<Int>(0)
        init(loop: any EventLoop) { self.loop = loop }

        /// Ends this loop's registrations whose session (or API key) is no longer live. On `loop`.
        func poll(_ store: any ImmediateSessionLookup, keys: (any ImmediateAPIKeyLookup)?, logger: Logger) {
            guard !entries.isEmpty else { return }
            var live: Set<SessionKey>
            do {
                live = try store.liveKeysNow(among: entries.values.filter { !$0.isAPIKey }.map(\.key))
                if let keys {
                    for entry in entries.values where entry.isAPIKey {
                        if try keys.lookupKeyNow(key: entry.key) != nil { live.insert(entry.key) }
                    }
                }
            } catch {
                logger.warning("cannot check the sessions behind open tunnels", metadata: ["error": "\(error)"])
                return
            }
            let ended = entries.filter { !live.contains($0.value.key) }
            for (token, entry) in ended {
                entries[token] = nil
                entry.end()
            }
        }
    }

    let interval: Duration
    private let registries: [ObjectIdentifier: LoopRegistry]

    init(eventLoops: [any EventLoop], interval: Duration = SessionWatch.defaultInterval) {
        self.interval = interval
        var registries: [ObjectIdentifier: LoopRegistry] = [:]
        for loop in eventLoops { registries[ObjectIdentifier(loop)] = LoopRegistry(loop: loop) }
        self.registries = registries
    }

    /// Calls `end` (on `loop`) once the session behind `key` has ended, unless ``unwatch(_:on:)``
    /// came first. Call on `loop`.
    func watch(key: SessionKey, subject: String, isAPIKey: Bool = false, on loop: any EventLoop, end: @escaping () -> Void) -> Token? {
        guard let registry = registries[ObjectIdentifier(loop)] else { return nil }
        loop.preconditionInEventLoop()
        registry.nextToken &+= 1
        registry.entries[registry.nextToken] = Entry(key: key, subject: subject, isAPIKey: isAPIKey, end: end)
        return registry.nextToken
    }

    /// Call on `loop`.
    func unwatch(_ token: Token, on loop: any EventLoop) {
        guard let registry = registries[ObjectIdentifier(loop)] else { return }
        loop.preconditionInEventLoop()
        registry.entries[token] = nil
    }

    /// How many registrations there are on every loop (for tests and logs).
    func count() async -> Int {
        var total = 0
        for registry in registries.values {
            total += (try? await registry.loop.submit { registry.entries.count }.get()) ?? 0
        }
        return total
    }

    /// Polls `store` every ``interval`` until the returned task is cancelled; with a
    /// ``SessionEndingSource``, also ends tunnels as soon as a revocation is announced.
    ///
    /// A store with synchronous lookups (memory, file) is asked on each event loop, by a timer
    /// of that loop, about that loop's registrations only: no task hop, so a busy cooperative
    /// thread pool cannot delay a close. Other stores (Redis) are asked in one batch from a task.
    func start(store: any SessionStore, logger: Logger) -> Task<Void, Never> {
        if let source = store as? any SessionEndingSource {
            // Announcements that end many sessions by name (a user, everyone) may come from
            // another deployment: Redis's Pub/Sub channels are server-wide, shared by every
            // database, so one on db 1 heard a revoke-all on db 0 under the same prefix (found by
            // an audit: its streams were cut, its sessions alive). Those make the watch ask this
            // store now which of its sessions still live; a session's own key is unique.
            let shared = !(store is any ImmediateSessionLookup)
            source.observeEndings { [self] ending in
                switch ending {
                case .subject, .everyone where shared: Task { await self.poll(store: store, logger: logger) }
                default: self.end(matching: ending)
                }
            }
        }
        let interval = self.interval
        if let immediate = store as? any ImmediateSessionLookup {
            let keys = store as? any ImmediateAPIKeyLookup
            let timers = registries.values.map { registry in
                registry.loop.scheduleRepeatedTask(initialDelay: interval.timeAmount, delay: interval.timeAmount) { _ in
                    registry.poll(immediate, keys: keys, logger: logger)
                }
            }
            return Task.detached {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                for timer in timers { timer.cancel() }
            }
        }
        return Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await poll(store: store, logger: logger)
            }
        }
    }

    /// One round: gathers the watched keys from every loop, asks the store, ends the dead.
    func poll(store: any SessionStore, logger: Logger) async {
        var watched: Set<SessionKey> = [], watchedAPIKeys: Set<SessionKey> = []
        for registry in registries.values {
            if let entries = try? await registry.loop.submit({ registry.entries.values.map { ($0.key, $0.isAPIKey) } }).get() {
                for (key, isAPIKey) in entries {
                    if isAPIKey { watchedAPIKeys.insert(key) } else { watched.insert(key) }
                }
            }
        }
        guard !watched.isEmpty || !watchedAPIKeys.isEmpty else { return }
        var live: Set<SessionKey>
        do {
            live = watched.isEmpty ? [] : try await store.liveKeys(among: Array(watched))
            if let keys = store as? any APIKeyStore {
                for key in watchedAPIKeys where try await keys.lookupKey(key: key) != nil { live.insert(key) }
            }
        } catch {
            logger.warning("cannot check the sessions behind open tunnels", metadata: ["error": "\(error)"])
            return
        }
        let ended = watched.union(watchedAPIKeys).subtracting(live)
        if !ended.isEmpty { end { ended.contains($0.key) } }
    }

    /// Ends what `ending` covers, on every loop.
    func end(matching ending: SessionEnding) {
        switch ending {
        case .session(let key): end { !$0.isAPIKey && $0.key == key }
        case .subject(let subject): end { !$0.isAPIKey && $0.subject == subject }
        case .everyone: end { !$0.isAPIKey }
        }
    }

    /// Ends every registration matching `predicate`, each on its own loop. Entries are removed
    /// before their `end` runs, so `end` may unwatch freely.
    func end(where predicate: @escaping @Sendable (Entry) -> Bool) {
        for registry in registries.values where registry.watching.load(ordering: .relaxed) > 0 {
            registry.loop.execute {
                let matching = registry.entries.filter { predicate($0.value) }
                for (token, entry) in matching {
                    registry.entries[token] = nil
                    entry.end()
                }
            }
        }
    }
}
