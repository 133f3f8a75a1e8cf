import HTTPTypes

/// W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): a trace the client
/// started is kept, one it did not start (or sent malformed) is started here, so the backend
/// and the access log (`trace_id`) always share a trace ID.
///
/// `traceparent` is `version-traceid-parentid-flags`: two, 32, 16 and two lower-case hex
/// digits; version `ff`, an all-zero trace ID or an all-zero parent ID make it invalid.
/// `tracestate` is forwarded as the client sent it beside a valid `traceparent`, dropped otherwise.
public enum TraceContext {
    /// The trace ID of a valid `traceparent` value, nil for an invalid one.
    public static func traceID(of traceparent: String) -> String? {
        let bytes = Array(traceparent.utf8)
        // Version 00 is exactly 55 bytes; a later version may append fields after a dash.
        guard bytes.count >= 55, bytes.count == 55 || bytes[55] == UInt8(ascii: "-") else { return nil }
        guard bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return nil }
        for range in [0..<2, 3..<35, 36..<52, 53..<55] {
            guard bytes[range].allSatisfy(isLowerHex) else { return nil }
        }
        guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")) else { return nil }
        if bytes[0] == UInt8(ascii: "0") && bytes[1] == UInt8(ascii: "0") && bytes.count != 55 { return nil }
        guard bytes[3..<35].contains(where: { $0 != UInt8(ascii: "0") }), bytes[36..<52].contains(where: { $0 != UInt8(ascii: "0") }) else {
            return nil
        }
        return String(decoding: bytes[3..<35], as: UTF8.self)
    }

    @inline(__always)
    static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }
}

/// New traces for one client connection: IDs from a generator seeded once from the system's
/// random source, so starting a trace costs no system call. Unique, not secret (trace IDs are
/// not credentials).
///
/// - Important: Used on its connection's event loop only.
public final class TraceIDGenerator {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    /// SplitMix64.
    private func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A new `traceparent` (version 00, sampled) and its trace ID, written digit by digit into
    /// their final strings (no integer formatting, no concatenation).
    public func start() -> (traceparent: String, traceID: String) {
        let words = (next() | 1, next() | 1, next() | 1)
        let traceparent = String(unsafeUninitializedCapacity: 55) { out in
            let digits: StaticString = "0123456789abcdef"
            func put(_ value: UInt64, at offset: Int) {
                for i in 0..<16 { out[offset + i] = digits.utf8Start[Int((value >> UInt64(60 - 4 * i)) & 0xF)] }
            }
            out[0] = UInt8(ascii: "0"); out[1] = UInt8(ascii: "0"); out[2] = UInt8(ascii: "-")
            put(words.0, at: 3)
            put(words.1, at: 19)
            out[35] = UInt8(ascii: "-")
            put(words.2, at: 36)
            out[52] = UInt8(ascii: "-"); out[53] = UInt8(ascii: "0"); out[54] = UInt8(ascii: "1")
            return 55
        }
        let utf8 = traceparent.utf8
        let traceID = String(decoding: utf8[utf8.index(utf8.startIndex, offsetBy: 3)..<utf8.index(utf8.startIndex, offsetBy: 35)], as: UTF8.self)
        return (traceparent, traceID)
    }
}
