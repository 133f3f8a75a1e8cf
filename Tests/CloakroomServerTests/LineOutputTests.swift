import Foundation
import Synchronization
import Testing

@testable import CloakroomServer

/// Standard output's line buffer: each `write` carries whole lines only, so another writer on
/// the same file (standard error on `2>&1`) can never land inside one of them.
@Suite struct LineOutputTests {
    /// A pipe whose read end does not block; closed by `body`'s end.
    func withPipe(_ body: (_ read: Int32, _ write: Int32) throws -> Void) throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        try body(ends[0], ends[1])
    }

    /// What one `read` of the pipe returns: the bytes of at most one `write` when each write is
    /// read before the next (nothing when none is pending).
    func readOnce(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = read(fd, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    @Test func linesWaitForTheLimitOrAFlushAndLeaveWhole() throws {
        try withPipe { readEnd, writeEnd in
            let output = LineOutput(fileDescriptor: writeEnd, limit: 16)
            output.append(Array("line one\n".utf8))
            #expect(readOnce(readEnd) == "", "buffered below the limit")
            output.append(Array("line two\n".utf8))
            #expect(output.flush(waitingAtMost: .seconds(30)))  // only waits: nothing is left to write
            #expect(readOnce(readEnd) == "line one\nline two\n", "the limit writes every pending line, in one write")
            output.append(Array("three\n".utf8))
            #expect(output.flush(waitingAtMost: .seconds(30)))
            #expect(readOnce(readEnd) == "three\n")
            #expect(output.flush(waitingAtMost: .seconds(30)))
            #expect(readOnce(readEnd) == "", "nothing pending, nothing written")
        }
    }

    /// Lines appended from many threads at once each arrive whole, none interleaved.
    @Test func concurrentLinesStayWhole() throws {
        try withPipe { readEnd, writeEnd in
            let output = LineOutput(fileDescriptor: writeEnd, limit: 512)
            let drained = Mutex<[UInt8]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                for index in 0..<100 {
                    output.append(Array("{\"thread\":\(thread),\"index\":\(index),\"pad\":\"\(String(repeating: "x", count: 40))\"}\n".utf8))
                    if index % 10 == 0 { drained.withLock { $0.append(contentsOf: readOnce(readEnd).utf8) } }
                }
            }
            #expect(output.flush(waitingAtMost: .seconds(30)))
            var all = drained.withLock { $0 }
            while case let chunk = readOnce(readEnd), !chunk.isEmpty { all.append(contentsOf: chunk.utf8) }
            let lines = String(decoding: all, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 800)
            for line in lines {
                #expect(line.hasPrefix("{\"thread\":") && line.hasSuffix("\"}"), "whole: \(line)")
            }
        }
    }

    /// Found by an audit: with standard output piped to a process that never read, the proxy
    /// stopped answering after about 190 requests (every event loop waited on the blocked
    /// write) while /healthz said 200. Appending never waits; past the bound lines are dropped,
    /// counted, and said to be once the reader reads again.
    @Test func aReaderThatDoesNotReadNeverHoldsUpAppends() throws {
        try withPipe { readEnd, writeEnd in
            let output = LineOutput(fileDescriptor: writeEnd, limit: 1024, maximumPending: 256 * 1024) { dropped in
                Array("dropped \(dropped)\n".utf8)
            }
            let line = Array("{\"pad\":\"\(String(repeating: "x", count: 89))\"}\n".utf8)  // 100 bytes
            let appended = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                // 1 MB into a pipe (64 KiB) nobody reads, with 256 KiB allowed to wait.
                for _ in 0..<10_000 { output.append(line) }
                appended.signal()
            }
            #expect(appended.wait(timeout: .now() + 30) == .success, "appends returned while the pipe was full")
            #expect(!output.flush(waitingAtMost: .milliseconds(200)), "the writer is still waiting for the reader")

            // The reader reads again: what waited arrives whole, and notices say how many were
            // dropped meanwhile.
            let flushed = Flag()
            Thread.detachNewThread { if output.flush(waitingAtMost: .seconds(30)) { flushed.set() } }
            var all: [UInt8] = []
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let chunk = readOnce(readEnd)
                if !chunk.isEmpty {
                    all.append(contentsOf: chunk.utf8)
                } else if flushed.isSet {
                    break
                } else {
                    usleep(1_000)
                }
            }
            #expect(flushed.isSet, "everything was written once the pipe was read")
            let lines = String(decoding: all, as: UTF8.self).split(separator: "\n")
            let notices = lines.filter { $0.hasPrefix("dropped ") }
            let dropped = notices.compactMap { Int($0.dropFirst("dropped ".count)) }.reduce(0, +)
            let written = lines.filter { !$0.hasPrefix("dropped ") }
            #expect(written.allSatisfy { $0.utf8.count == 99 }, "every line whole")
            #expect(written.count + dropped == 10_000, "\(written.count) written and \(dropped) dropped")
            #expect(dropped > 0 && written.count >= 2_000, "the pipe's and the pending bound's worth were kept")
        }
    }
}

private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
