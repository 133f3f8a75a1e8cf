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
            #expect(readOnce(readEnd) == "line one\nline two\n", "the limit writes every pending line, in one write")
            output.append(Array("three\n".utf8))
            output.flush()
            #expect(readOnce(readEnd) == "three\n")
            output.flush()
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
            output.flush()
            var all = drained.withLock { $0 }
            while case let chunk = readOnce(readEnd), !chunk.isEmpty { all.append(contentsOf: chunk.utf8) }
            let lines = String(decoding: all, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 800)
            for line in lines {
                #expect(line.hasPrefix("{\"thread\":") && line.hasSuffix("\"}"), "whole: \(line)")
            }
        }
    }
}
