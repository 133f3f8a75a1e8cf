import NIOCore

/// `response_timeout` deadlines: from the request's end sent upstream to the response head.
protocol ResponseDeadlines: AnyObject {
    /// Sets `owner`'s deadline; `expire` runs once it has passed unless ``disarm(_:)`` came first.
    func arm(_ owner: ObjectIdentifier, at deadline: NIODeadline, _ expire: @escaping () -> Void)
    func disarm(_ owner: ObjectIdentifier)
    /// Stops every timer (the connection closed).
    func cancel()
}

/// The deadline of an HTTP/1.1 connection's one exchange at a time: a ``LazyTimer``, so that
/// a response arriving in time (nearly always) schedules and cancels nothing.
final class SingleResponseDeadline: ResponseDeadlines {
    private let eventLoop: any EventLoop
    private var timer = LazyTimer()
    private var expire: (() -> Void)?

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func arm(_ owner: ObjectIdentifier, at deadline: NIODeadline, _ expire: @escaping () -> Void) {
        self.expire = expire
        timer.arm(at: deadline, on: eventLoop, fired)
    }

    func disarm(_ owner: ObjectIdentifier) {
        timer.disarm()
        expire = nil
    }

    func cancel() {
        timer.cancel()
        expire = nil
    }

    private func fired() {
        guard timer.fired(on: eventLoop, fired), let expire else { return }
        self.expire = nil
        expire()
    }
}

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
