#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The `main` of every fuzz target. Two builds of the same code:
///
/// - Without `-D FUZZING` (the normal build): replays every file named on the command line (a
///   directory: every file in it, recursively) through the target once, in name order, and
///   exits 0, or traps on the input that breaks an invariant. `scripts/test` runs each target
///   over its corpus (`Fuzz/Corpus/<target>`), so every seed and every past crash is a
///   regression test.
/// - With `-D FUZZING -sanitize=fuzzer,address` (`scripts/fuzz`): hands the command line to
///   libFuzzer (`LLVMFuzzerRunDriver`), which mutates inputs under AddressSanitizer, with
///   coverage feedback from every Swift module of the build.
///
/// A target signals a bug by trapping (`precondition`, a Swift runtime error, an ASan report);
/// inputs it merely rejects are not bugs.
public enum FuzzDriver {
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    public static func main(_ testOneInput: TestOneInput) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
        #else
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            for path in files(at: argument) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    complain("cannot read \(path)")
                    exit(2)
                }
                _ = data.withUnsafeBytes { testOneInput($0.bindMemory(to: UInt8.self).baseAddress, $0.count) }
                count += 1
            }
        }
        print("\(CommandLine.arguments[0].split(separator: "/").last ?? ""): replayed \(count) inputs, no failure")
        exit(0)
        #endif
    }

    /// `path` itself when it is a file, else the files under it, sorted.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            complain("no such file or directory: \(path)")
            exit(2)
        }
        guard isDirectory.boolValue else { return [path] }
        let enumerator = FileManager.default.enumerator(atPath: path)
        var found: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            let full = path + "/" + relative
            var nested: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &nested), !nested.boolValue, !relative.hasPrefix(".") {
                found.append(full)
            }
        }
        return found.sorted()
    }

    static func complain(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The input as a buffer, empty for a null pointer.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
        guard let data, size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: size)
    }
}

/// Piece sizes for feeding an input in parts: each 1 to 16 bytes, drawn from `seed`, so the
/// same input always splits the same way (and a crash reproduces).
public struct Pieces: Sequence, IteratorProtocol {
    var state: UInt64
    public init(seed: UInt8) { state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1 }
    public mutating func next() -> Int? {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % 16) + 1
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: FuzzDriver.TestOneInput
) -> CInt
#endif

/// FNV-1a of `bytes`: a short, deterministic stand-in for a body in an event list.
public func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

/// Traps with `message` when `condition` is false, in every build: `precondition` drops its
/// message in optimized builds, and a fuzz report without it is hard to read.
@inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
