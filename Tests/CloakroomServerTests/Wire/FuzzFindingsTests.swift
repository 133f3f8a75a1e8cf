import NIOCore
import Testing

@testable import CloakroomServer

/// What fuzzing the HTTP/1.1 wire found (issue 26), one test per finding, on the smallest input
/// that shows it; the fuzzers' inputs are in `Fuzz/Corpus/*/finding-*`. Both are fixed: the
/// answer never depends on how the reads split the bytes.
@Suite struct FuzzFindingsTests {
    /// The error kind a head ends in, its bytes fed in pieces of `piece` bytes.
    static func requestError(_ bytes: String, maxHeaderBytes: Int, piece: Int) -> HTTP1WireError.Kind? {
        var parser = HTTP1RequestParser(maxHeaderBytes: maxHeaderBytes, secure: false)
        var buffer = ByteBuffer()
        let all = Array(bytes.utf8)
        for start in stride(from: 0, to: all.count, by: piece) {
            buffer.writeBytes(all[start..<min(start + piece, all.count)])
            do {
                while try parser.next(&buffer) != nil {}
            } catch {
                return error.kind
            }
        }
        return nil
    }

    /// F1: a head longer than `max_header_bytes` with a bare LF past the limit is 400 (malformed)
    /// when it arrives in one read and 431 (too large) in several: `HTTP1Head.end(of:)` scans
    /// the whole buffer, past the limit. The answer must not depend on how TCP split the
    /// bytes; scanning only the first `limit` bytes makes it 431 both ways. The same holds for
    /// response heads (`HTTP1ResponseParser`, through `MessageReader.head`).
    @Test func f1TheErrorForAnOversizedHeadDoesNotDependOnTheReads() {
        let head = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "a", count: 80) + "\n\r\n"
        let whole = Self.requestError(head, maxHeaderBytes: 64, piece: head.utf8.count)
        let pieces = Self.requestError(head, maxHeaderBytes: 64, piece: 16)
        #expect(pieces == .headersTooLarge)
        #expect(whole == .headersTooLarge)
    }

    /// The chunked body `BodyFraming` decodes, fed in pieces, or the error detail.
    static func decodeChunked(_ bytes: String, maxLineBytes: Int, piece: Int) -> Result<[UInt8], HTTP1WireError> {
        var framing = BodyFraming(.chunkSize, maxLineBytes: maxLineBytes)
        var buffer = ByteBuffer()
        var body: [UInt8] = []
        let all = Array(bytes.utf8)
        for start in stride(from: 0, to: all.count, by: piece) {
            buffer.writeBytes(all[start..<min(start + piece, all.count)])
            do throws(HTTP1WireError) {
                loop: while true {
                    switch try framing.next(&buffer) {
                    case .body(let part): body += part.readableBytesView
                    case .end: return .success(body)
                    case .needMore: break loop
                    }
                }
            } catch {
                return .failure(error)
            }
        }
        return .success(body)
    }

    /// F2: `maxLineBytes` bounds a chunk-size line only while the line is incomplete. A line
    /// longer than the bound (a long chunk extension) is accepted when it arrives in one read,
    /// and refused when it arrives in pieces, so the body decoded depends on the reads, and the
    /// bound is as large as one read. `chunkSizeLine` now checks the complete line's length too.
    @Test func f2TheChunkSizeLineBoundHoldsInOneReadToo() {
        let body = "3;" + String(repeating: "x", count: 60) + "\r\nabc\r\n0\r\n\r\n"
        let pieces = Self.decodeChunked(body, maxLineBytes: 16, piece: 8)
        #expect(throws: HTTP1WireError.self) { try pieces.get() }
        let whole = Self.decodeChunked(body, maxLineBytes: 16, piece: body.utf8.count)
        #expect(throws: HTTP1WireError.self) { try whole.get() }
    }

    /// F1 in the trailer section: a trailer line both past the bound and malformed (a bare LF
    /// past the bound) is "too large" however the reads split it.
    @Test func f1ATrailerPastItsBoundIsTooLargeInOneReadToo() {
        let body = "1\r\na\r\n0\r\nX-Trailer: " + String(repeating: "t", count: 40) + "\n\r\n"
        for piece in [body.utf8.count, 8, 1] {
            let result = Self.decodeChunked(body, maxLineBytes: 16, piece: piece)
            #expect(throws: HTTP1WireError.self) { try result.get() }
            if case .failure(let error) = result { #expect(error.kind == .headersTooLarge, "pieces of \(piece)") }
        }
    }
}
