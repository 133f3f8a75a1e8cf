/// An IPv4 or IPv6 address as 128 bits, IPv4 held as its IPv4-mapped IPv6 form
/// (`::ffff:a.b.c.d`), so a peer a dual-stack listener reports as `::ffff:10.0.0.1` and one
/// reported as `10.0.0.1` are the same address and match the same IPv4 ``CIDRBlock``.
///
/// Parsed from text byte by byte, without Foundation or the C library: the client-address rule
/// parses `X-Forwarded-For` entries on the request path (from trusted proxies only).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The upper and lower 64 bits, network order.
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Whether this is an IPv4 address (held IPv4-mapped).
    public var isIPv4: Bool { high == 0 && low >> 32 == 0xffff }

    /// `10.0.0.1`, or `::1` / `2001:db8::5` (RFC 5952 form).
    public var description: String {
        if isIPv4 {
            let v4 = UInt32(truncatingIfNeeded: low)
            return "\(v4 >> 24).\((v4 >> 16) & 0xff).\((v4 >> 8) & 0xff).\(v4 & 0xff)"
        }
        let groups: [UInt16] = (0..<8).map { index in
            let word = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (index % 4)))
        }
        // The longest run of two or more zero groups becomes `::` (the first one on a tie).
        var bestStart = -1, bestLength = 1, start = -1
        for index in 0...8 {
            if index < 8 && groups[index] == 0 {
                if start < 0 { start = index }
            } else if start >= 0 {
                if index - start > bestLength { (bestStart, bestLength) = (start, index - start) }
                start = -1
            }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// An IPv6 address written inside a host's brackets, in RFC 5952 form with its brackets
    /// (`0:0:0:0:0:0:0:1` and `::0001` are `[::1]`), so that spellings of one address compare
    /// equal; `nil` for anything else.
    public static func bracketedHost(_ inner: some StringProtocol) -> String? {
        guard inner.contains(":"), let address = IPAddress(inner) else { return nil }
        return address.isIPv4 ? "[::ffff:\(address)]" : "[\(address)]"
    }

    /// Parses `10.0.0.1`, `::1`, `2001:db8::1`, `::ffff:10.0.0.1`; a zone (`fe80::1%eth0`),
    /// brackets or a port are not part of an address.
    public init?(_ text: some StringProtocol) {
        var utf8 = Array(text.utf8)
        if let parsed = utf8.withUnsafeMutableBufferPointer({ Self.parse(UnsafeBufferPointer($0)) }) {
            self = parsed
        } else {
            return nil
        }
    }

    /// An address at the start of an `X-Forwarded-For` entry as proxies write it: bare,
    /// `[v6]`, `[v6]:port` or `v4:port`.
    public init?(forwardedEntry text: Substring) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isDecimalDigitASCII) && rest.count > 1) else {
                return nil
            }
            self.init(text[text.index(after: text.startIndex)..<close])
            return
        }
        if let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].firstIndex(of: ":") == nil {
            // One colon: IPv4 with a port (an IPv6 address has at least two).
            let port = text[text.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isDecimalDigitASCII) else { return nil }
            self.init(text[..<colon])
            guard isIPv4 else { return nil }
            return
        }
        self.init(text)
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if !bytes.contains(UInt8(ascii: ":")) {
            return parseIPv4(bytes[...]).map { IPAddress(high: 0, low: 0xffff_0000_0000 | UInt64($0)) }
        }
        return parseIPv6(bytes)
    }

    /// Dotted quad, each part 0–255 in decimal, no leading zeros beyond a single `0`
    /// (`010` is octal to some parsers: refused rather than guessed).
    static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                (part, digits, parts) = (0, 0, parts + 1)
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if digits == 1 && part == 0 { return nil }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        var groups: [UInt16] = []
        groups.reserveCapacity(8)
        var gap: Int? = nil
        var index = 0
        let count = bytes.count
        guard count >= 2 else { return nil }
        if bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            index = 2
            if index == count { return IPAddress(high: 0, low: 0) }
        }
        while index < count {
            // One group: up to 4 hex digits, or an IPv4 tail in the last 32 bits.
            var end = index
            var value: UInt32 = 0
            while end < count, let digit = hexValue(bytes[end]), end - index < 4 {
                value = value << 4 | UInt32(digit)
                end += 1
            }
            if end < count && bytes[end] == UInt8(ascii: ".") {
                guard groups.count <= 6, let v4 = parseIPv4(bytes[index..<count]) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                index = count
                break
            }
            guard end > index else { return nil }
            groups.append(UInt16(value))
            index = end
            if index == count { break }
            guard bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if index < count && bytes[index] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = groups.count
                index += 1
                if index == count { break }
            } else if index == count {
                return nil
            }
            if groups.count > 8 { return nil }
        }
        if let gap {
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for group in groups[0..<4] { high = high << 16 | UInt64(group) }
        for group in groups[4..<8] { low = low << 16 | UInt64(group) }
        return IPAddress(high: high, low: low)
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// An address range as `routes[].networks` and `client.trusted_proxies` write it:
/// `10.0.0.0/8`, `2001:db8::/32`, or a single address (`/32` or `/128` implied). Compiled
/// once into a mask: matching is two ANDs and two compares.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    /// The prefix length in the 128-bit space (an IPv4 `/8` is 104 here).
    let bits: Int
    let maskHigh: UInt64
    let maskLow: UInt64
    /// As written (for messages and the README's examples).
    public let description: String

    /// Parses `address/prefix` or a bare address; host bits set below the prefix are an error
    /// (`10.0.0.1/8` probably meant `10.0.0.0/8` or `10.0.0.1/32`).
    static func parse(_ text: String) -> Result<CIDRBlock, ValueProblem> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            return .failure(ValueProblem("expected an IPv4 or IPv6 network like 10.0.0.0/8 or 2001:db8::/32, got \(HTTPSyntax.quoted(text))"))
        }
        let width = address.isIPv4 ? 32 : 128
        var length = width
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parts[1].allSatisfy(\.isDecimalDigitASCII), (0...width).contains(parsed) else {
                return .failure(ValueProblem("the prefix length after / must be 0 to \(width), got \(HTTPSyntax.quoted(text))"))
            }
            length = parsed
        }
        let bits = address.isIPv4 ? 96 + length : length
        let block = CIDRBlock(network: address, bits: bits, text: text)
        guard block.network.high & ~block.maskHigh == 0, block.network.low & ~block.maskLow == 0 else {
            return .failure(ValueProblem("\(HTTPSyntax.quoted(text)) has bits set after the prefix (the network is \(block.masked)/\(length))"))
        }
        return .success(block)
    }

    /// `10.0.0.0/8`, `::1`: `nil` where ``parse(_:)`` reports a problem.
    public init?(_ text: String) {
        guard case .success(let block) = Self.parse(text) else { return nil }
        self = block
    }

    init(network: IPAddress, bits: Int, text: String) {
        self.network = network
        self.bits = bits
        maskHigh = bits >= 64 ? .max : bits == 0 ? 0 : .max << UInt64(64 - bits)
        maskLow = bits <= 64 ? 0 : bits == 128 ? .max : .max << UInt64(128 - bits)
        description = text
    }

    var masked: IPAddress { IPAddress(high: network.high & maskHigh, low: network.low & maskLow) }

    @inline(__always)
    public func contains(_ address: IPAddress) -> Bool {
        address.high & maskHigh == network.high && address.low & maskLow == network.low
    }
}

extension Sequence where Element == CIDRBlock {
    /// Whether any block holds `address`.
    @inlinable
    public func containsAddress(_ address: IPAddress) -> Bool {
        contains { $0.contains(address) }
    }
}

extension Character {
    /// `0`–`9` only (not other scripts' digits).
    var isDecimalDigitASCII: Bool { isASCII && isNumber && ("0"..."9").contains(self) }
}
