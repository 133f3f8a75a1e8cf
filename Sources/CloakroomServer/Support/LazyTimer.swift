import NIOCore

/// A deadline checked by at most one scheduled task, for timeouts that are re-armed on every
/// request. Moving the deadline later costs nothing (no cancel, no heap insertion): the task
/// fires at the old time, sees the deadline moved, and re-arms once. Only moving it earlier
/// than the scheduled firing reschedules.
///
/// - Important: Loop-bound: use on one event loop only.
struct LazyTimer {
    private(set) var deadline: NIODeadline?
    private var scheduled: Scheduled<Void>?
    private var firesAt: NIODeadline?

    /// Sets the deadline; `onExpiry` runs on `loop` once it has passed (unless changed first).
    mutating func arm(at deadline: NIODeadline, on loop: any EventLoop, _ onExpiry: @escaping () -> Void) {
        self.deadline = deadline
        if let firesAt, firesAt <= deadline, scheduled != nil { return }
        scheduled?.cancel()
        schedule(at: deadline, on: loop, onExpiry)
    }

    /// No deadline: a pending task will find nothing to do.
    mutating func disarm() { deadline = nil }

    /// Cancels the scheduled task (on close).
    mutating func cancel() {
        deadline = nil
        scheduled?.cancel()
        scheduled = nil
        firesAt = nil
    }

    /// Called by the scheduled task: returns whether the deadline has passed; re-arms itself
    /// when the deadline moved later.
    mutating func fired(on loop: any EventLoop, _ onExpiry: @escaping () -> Void) -> Bool {
        scheduled = nil
        firesAt = nil
        guard let deadline else { return false }
        if NIODeadline.now() >= deadline {
            self.deadline = nil
            return true
        }
        schedule(at: deadline, on: loop, onExpiry)
        return false
    }

    private mutating func schedule(at deadline: NIODeadline, on loop: any EventLoop, _ onExpiry: @escaping () -> Void) {
        firesAt = deadline
        scheduled = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline, onExpiry)
    }
}
