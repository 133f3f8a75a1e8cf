import NIOCore

/// The `response_timeout` deadlines of one HTTP/2 connection's streams, checked by a single
/// ``LazyTimer``. A stream lives for one request: a timer of its own would schedule (and then
/// cancel) a task per request, which showed up as several percent of the HTTP/2 path.
///
/// - Important: Loop-bound: used on the connection's event loop only.
final class StreamDeadlines: ResponseDeadlines {
    private let eventLoop: any EventLoop
    private var timer = LazyTimer()
    private var entries: [ObjectIdentifier: (deadline: NIODeadline, expire: () -> Void)] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Sets `owner`'s deadline; `expire` runs once it has passed unless ``disarm(_:)`` came first.
    func arm(_ owner: ObjectIdentifier, at deadline: NIODeadline, _ expire: @escaping () -> Void) {
        entries[owner] = (deadline, expire)
        if let current = timer.deadline, current <= deadline { return }
        timer.arm(at: deadline, on: eventLoop, fire)
    }

    func disarm(_ owner: ObjectIdentifier) {
        entries[owner] = nil
        if entries.isEmpty { timer.disarm() }
    }

    /// Stops the timer (the connection closed).
    func cancel() {
        entries.removeAll()
        timer.cancel()
    }

    private func fire() {
        guard timer.fired(on: eventLoop, fire) else { return }
        let now = NIODeadline.now()
        var expired: [() -> Void] = []
        var next: NIODeadline?
        for (owner, entry) in entries {
            if entry.deadline <= now {
                expired.append(entry.expire)
                entries[owner] = nil
            } else {
                next = min(next ?? entry.deadline, entry.deadline)
            }
        }
        if let next { timer.arm(at: next, on: eventLoop, fire) }
        for expire in expired { expire() }
    }
}
