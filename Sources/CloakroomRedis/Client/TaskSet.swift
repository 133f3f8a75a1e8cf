import Synchronization

/// Tasks started on behalf of an object that must not outlive it: each removes itself when
/// done, and ``drain()`` waits for those still running.
final class TaskSet: Sendable {
    private let tasks = Mutex<[Int: Task<Void, Never>]>([:])
    private let ids = Atomic<Int>(0)

    /// Starts `work` as a task of the set.
    func spawn(_ work: @escaping @Sendable () async -> Void) {
        let id = ids.wrappingAdd(1, ordering: .relaxed).oldValue
        // Registered under the lock the task removes itself under, so it cannot finish first.
        tasks.withLock { tasks in
            tasks[id] = Task {
                await work()
                _ = self.tasks.withLock { $0.removeValue(forKey: id) }
            }
        }
    }

    /// Returns once no task of the set is running (including any they started meanwhile).
    func drain() async {
        while true {
            let pending = tasks.withLock { Array($0.values) }
            if pending.isEmpty { return }
            for task in pending { await task.value }
        }
    }
}
