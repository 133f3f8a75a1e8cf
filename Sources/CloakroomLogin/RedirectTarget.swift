/// Where to send the browser after login: only a path on this origin, so `next` cannot be used
/// to bounce a freshly signed-in user to another site (an open redirect).
///
/// ``sanitize(_:)`` keeps `next` as given when all of these hold, and returns `/` otherwise:
/// - it starts with exactly one `/` (not `//`, which browsers read as another host), so
///   `https://evil.com`, `javascript:…` and relative paths are out;
/// - it is at most 2048 bytes of visible ASCII (`!`…`~`): no spaces, no control characters
///   (browsers drop tab/CR/LF inside URLs, so `/\t/evil.com` would become `//evil.com`), and
///   nothing that could split a `Location` header;
/// - it has no backslash: browsers treat `\` as `/`, so `/\evil.com` is `//evil.com`;
/// - the same holds after percent-decoding once, because a server or framework behind the
///   proxy may decode before redirecting again. So `/%5Cevil.com` (an encoded backslash),
///   `/%2F%2Fevil.com` (→ `///evil.com`) and `/%0D%0A…` are refused, while `/a%2Fb` and
///   `/search?q=a%20b` are kept.
///
/// Query strings and fragments are kept: `/ok?x=1`, `/a/b#frag`.
public enum RedirectTarget {
    /// The fallback, and the target when `next` is absent.
    public static let fallback = "/"

    public static func sanitize(_ next: String?) -> String {
        guard let next, next.utf8.count <= 2048, isSafe(next.utf8, visibleOnly: true) else { return fallback }
        let decoded = PercentDecoding.decode(Array(next.utf8)[...], plusIsSpace: false, strict: false) ?? []
        guard isSafe(decoded, visibleOnly: false) else { return fallback }
        return next
    }

    /// Starts with one `/`, then no backslash; every byte visible ASCII (or, after decoding,
    /// anything but a control character).
    private static func isSafe<Bytes: Collection<UInt8>>(_ bytes: Bytes, visibleOnly: Bool) -> Bool {
        var iterator = bytes.makeIterator()
        guard iterator.next() == UInt8(ascii: "/") else { return false }
        var index = 1
        while let byte = iterator.next() {
            if index == 1 && byte == UInt8(ascii: "/") { return false }
            if byte == UInt8(ascii: "\\") { return false }
            if byte < 0x20 || byte == 0x7F { return false }
            if visibleOnly && (byte == 0x20 || byte > 0x7E) { return false }
            index += 1
        }
        return true
    }
}
