import Foundation
import Synchronization

/// Whole lines for one file descriptor, buffered: each `write(2)` carries whole lines only, so
/// lines from another writer on the same file (standard error on `2>&1`) fall between them,
/// never inside one. Shared by every thread under one lock, which is also held across the
/// `write`, so the buffer's lines leave in the order they were appended.
final class LineOutput: Sendable {
    private let fileDescriptor: Int32
    private let limit: Int
    private let pending: Mutex<[UInt8]>

    /// `limit`: how many pending bytes make an ``append(_:)`` write them out.
    init(fileDescriptor: Int32, limit: Int = 64 * 1024) {
        self.fileDescriptor = fileDescriptor
        self.limit = limit
        pending = Mutex([])
    }

    /// Appends `line`, which ends with a line feed; writes out when ``limit`` is reached.
    func append(_ line: [UInt8]) {
        pending.withLock { pending in
            pending.append(contentsOf: line)
            if pending.count >= limit { writeOut(&pending) }
        }
    }

    /// Writes out every pending line.
    func flush() {
        pending.withLock { writeOut(&$0) }
    }

    private func writeOut(_ pending: inout [UInt8]) {
        guard !pending.isEmpty else { return }
        pending.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    break  // nowhere to write (closed, full disk): the lines are dropped, as stdio would
                }
            }
        }
        pending.removeAll(keepingCapacity: pending.count <= limit * 2)
    }
}
