import Dispatch
import Foundation
import Synchronization

/// Whole lines for one file descriptor, buffered: each `write(2)` carries whole lines only, so
/// lines from another writer on the same file (standard error on `2>&1`) fall between them,
/// never inside one.
///
/// Appending never waits for the file: the lines are written by a thread of the output's own,
/// in the order they were appended, batch after batch. A reader that stops reading (a full
/// pipe) stalls only that thread (found by an audit: the event loops appending access-log lines
/// waited on the lock held across the blocked `write`, so the proxy stopped answering while
/// `/healthz` said 200). Past ``maximumPending`` bytes waiting, lines are dropped and counted,
/// and ``droppedNotice`` says how many once the output moves again.
final class LineOutput: Sendable {
    private struct State {
        var pending: [UInt8] = []
        /// A drain is scheduled or running on the writer.
        var draining = false
        var dropped = 0

        /// Whether the caller must schedule a drain (one runs at a time).
        mutating func startDrain() -> Bool {
            guard !draining else { return false }
            draining = true
            return true
        }
    }

    private let fileDescriptor: Int32
    private let limit: Int
    let maximumPending: Int
    private let droppedNotice: @Sendable (Int) -> [UInt8]
    private let state = Mutex(State())
    private let writer = DispatchQueue(label: "cloakroom.line-output")

    /// - Parameters:
    ///   - limit: how many pending bytes make an ``append(_:)`` start writing them out.
    ///   - maximumPending: how many bytes may wait for a file that does not take them.
    ///   - droppedNotice: the line written after lines were dropped, given how many.
    init(
        fileDescriptor: Int32, limit: Int = 64 * 1024, maximumPending: Int = 16 << 20,
        droppedNotice: @escaping @Sendable (Int) -> [UInt8] = { Array("\($0) lines dropped: the output was not read\n".utf8) }
    ) {
        self.fileDescriptor = fileDescriptor
        self.limit = limit
        self.maximumPending = maximumPending
        self.droppedNotice = droppedNotice
    }

    /// Appends `line`, which ends with a line feed; starts writing out when ``limit`` is reached.
    func append(_ line: [UInt8]) {
        let drain = state.withLock { state in
            guard state.pending.count + line.count <= maximumPending else {
                state.dropped += 1
                return false
            }
            state.pending.append(contentsOf: line)
            return state.pending.count >= limit && state.startDrain()
        }
        if drain { writer.async { self.drain() } }
    }

    /// Starts writing out every pending line; returns at once.
    func flush() {
        let drain = state.withLock { state in
            (!state.pending.isEmpty || state.dropped > 0) && state.startDrain()
        }
        if drain { writer.async { self.drain() } }
    }

    /// Writes out every pending line, waiting at most `timeout` (at shutdown, for a reader
    /// that may not be reading). Whether everything was written.
    @discardableResult
    func flush(waitingAtMost timeout: Duration) -> Bool {
        flush()
        let written = DispatchSemaphore(value: 0)
        writer.async { written.signal() }  // after the drain just scheduled or running
        let nanoseconds = Int(timeout.components.seconds) * 1_000_000_000 + Int(timeout.components.attoseconds / 1_000_000_000)
        return written.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success
    }

    /// On the writer: writes batches until nothing is pending.
    private func drain() {
        while true {
            let batch: [UInt8]? = state.withLock { state in
                guard !state.pending.isEmpty || state.dropped > 0 else {
                    state.draining = false
                    return nil
                }
                var batch: [UInt8] = []
                swap(&batch, &state.pending)
                if state.dropped > 0 {
                    batch += droppedNotice(state.dropped)
                    state.dropped = 0
                }
                return batch
            }
            guard let batch else { return }
            write(batch)
        }
    }

    private func write(_ batch: [UInt8]) {
        batch.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    break  // nowhere to write (closed, full disk): the lines are dropped, as stdio would
                }
            }
        }
    }
}
