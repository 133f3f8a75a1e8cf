extension PasswordHash {
    /// scrypt's work factors (RFC 7914): `n` (CPU/memory cost), `r` (block size), `p`
    /// (parallelism). Memory use is about `128 × n × r` bytes.
    ///
    /// Invariants, checked by ``init(n:r:p:)`` and when parsing: `n` is a power of two from 2 to
    /// 2^20 and below 2^(16 × r) (RFC 7914), `r` is 1–16, `p` is 1–16, and `128 × n × r × p` is
    /// at most 1 GiB, so a hostile or mistyped users file cannot make one login exhaust memory.
    /// (`r` stops at 16 because swift-crypto's memory limit for scrypt leaves no room for more
    /// when `p` is 1.) Every accepted combination derives.
    public struct Parameters: Sendable, Equatable, Hashable {
        public let n: Int
        public let r: Int
        public let p: Int

        /// What ``PasswordHash/make(password:)`` uses: 32 MiB and roughly 50–100 ms per hash on
        /// a 2020s server core. Raising these later leaves existing hashes verifying with the
        /// parameters stored in them.
        public static let `default` = Parameters(checkedN: 32_768, r: 8, p: 1)

        /// `nil` when outside the ranges above.
        public init?(n: Int, r: Int, p: Int) {
            guard (2...1 << 20).contains(n), n & (n - 1) == 0, (1...16).contains(r), (1...16).contains(p),
                  16 * r >= 63 || n < 1 << (16 * r), 128 * n * r * p <= 1 << 30
            else { return nil }
            self.init(checkedN: n, r: r, p: p)
        }

        private init(checkedN n: Int, r: Int, p: Int) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// `N=32768,r=8,p=1`.
        var encoded: String { "N=\(n),r=\(r),p=\(p)" }

        /// Parses exactly `N=<n>,r=<r>,p=<p>`, decimal without sign or leading zeros.
        init?(encoded: Substring) {
            let fields = encoded.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == 3,
                  let n = Self.value(fields[0], named: "N"),
                  let r = Self.value(fields[1], named: "r"),
                  let p = Self.value(fields[2], named: "p")
            else { return nil }
            self.init(n: n, r: r, p: p)
        }

        private static func value(_ field: Substring, named name: String) -> Int? {
            guard field.hasPrefix(name + "=") else { return nil }
            let digits = field.dropFirst(name.count + 1)
            guard (1...8).contains(digits.count), digits.allSatisfy({ ("0"..."9").contains($0) }),
                  digits.first != "0" || digits.count == 1
            else { return nil }
            return Int(digits)
        }
    }
}
