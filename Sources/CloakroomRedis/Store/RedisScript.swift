import Crypto

/// A Lua script the store runs with `EVALSHA`, falling back to `EVAL` (which also caches it)
/// when the server answers `NOSCRIPT`: after a restart, a `SCRIPT FLUSH` or a failover.
struct RedisScript: Sendable {
    let name: String
    let source: String
    /// The SHA-1 of `source` in lowercase hex: the name `EVALSHA` knows the script by.
    let sha1: String

    init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }
}
