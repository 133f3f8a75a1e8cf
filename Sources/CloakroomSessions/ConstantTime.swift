import Crypto

/// Secret comparison that takes the same time wherever the inputs differ.
public enum ConstantTime {
    /// Whether `a == b`. Both sides are hashed first, so even the length of the secret is not
    /// revealed by timing.
    public static func equals(_ a: String, _ b: String) -> Bool {
        let left = SHA256.hash(data: Array(a.utf8)), right = SHA256.hash(data: Array(b.utf8))
        var difference: UInt8 = 0
        for (x, y) in zip(left, right) { difference |= x ^ y }
        return difference == 0
    }
}
