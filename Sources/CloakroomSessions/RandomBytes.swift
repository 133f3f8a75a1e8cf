/// `count` bytes from the system CSPRNG, drawn eight at a time (one generator call per word
/// rather than per byte: each call may be a system call).
func randomBytes(count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < count {
            let word: UInt64 = generator.next()
            withUnsafeBytes(of: word) { wordBytes in
                let n = min(8, count - offset)
                raw.baseAddress!.advanced(by: offset).copyMemory(from: wordBytes.baseAddress!, byteCount: n)
            }
            offset += 8
        }
    }
    return bytes
}
