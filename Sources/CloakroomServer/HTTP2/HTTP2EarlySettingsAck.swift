import NIOCore

/// Makes NIO apply the server's SETTINGS from the client's first frame on, instead of from the
/// client's SETTINGS ACK, a round trip later.
///
/// Why: until our SETTINGS are acknowledged, NIO decodes header blocks with HPACK's default
/// limit of 16 KiB, and a larger one is a connection error (COMPRESSION_ERROR or
/// PROTOCOL_ERROR, every stream lost) — and browsers, curl and nghttp send their first requests
/// in the same flight as their SETTINGS, before they have read ours. So the wire guard splices
/// a SETTINGS ACK into the inbound bytes right after the client's first SETTINGS frame, and
/// takes the client's own ACK out when it arrives (NIO must see exactly one). Then a head up to
/// the decoder's limit is decoded on any stream, and one over `client.max_header_bytes` gets its
/// 431 on its stream alone (RFC 9113 §10.5.1; ``HTTP2RequestHead``).
///
/// Nothing else in our SETTINGS changes meaning: the stream window is the protocol's default,
/// streams past the advertised limit are refused one by one either way (``HTTP2WireGuard``),
/// and the header list size is advisory to the client.
///
/// Walks frame headers only until the client's ACK has been taken out (the first read or
/// two); after that ``isDone`` and the guard passes bytes through untouched.
struct HTTP2EarlySettingsAck {
    private enum Phase { case awaitingClientSettings, awaitingClientAck, done }
    private var phase = Phase.awaitingClientSettings
    private var prefaceLeft = 24
    private var payloadLeft = 0
    /// Inject the ACK once the current frame's payload (the client's SETTINGS) has passed.
    private var ackAfterPayload = false
    /// The start of a frame header cut by the end of a read, held back until it is whole.
    private var carry: [UInt8] = []

    static let settingsAck: [UInt8] = [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0]

    var isDone: Bool { phase == .done }

    /// The bytes NIO is to see for `input`.
    mutating func process(_ input: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var output = allocator.buffer(capacity: carry.count + input.readableBytes + 9)
        var bytes = carry
        carry = []
        bytes.append(contentsOf: input.readableBytesView)
        var index = 0
        while index < bytes.count {
            if phase == .done || prefaceLeft > 0 || payloadLeft > 0 {
                let take = phase == .done ? bytes.count - index : min(prefaceLeft > 0 ? prefaceLeft : payloadLeft, bytes.count - index)
                output.writeBytes(bytes[index..<(index + take)])
                index += take
                if prefaceLeft > 0 {
                    prefaceLeft -= take
                } else if payloadLeft > 0 {
                    payloadLeft -= take
                    if payloadLeft == 0 && ackAfterPayload { acknowledge(into: &output) }
                }
                continue
            }
            guard bytes.count - index >= 9 else {
                carry = Array(bytes[index...])
                break
            }
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            let type = bytes[index + 3], flags = bytes[index + 4]
            let isSettings = type == 0x4, isAck = flags & 0x1 != 0
            if phase == .awaitingClientAck && isSettings && isAck && length == 0 {
                index += 9  // the client's ACK of our SETTINGS: NIO has had one
                phase = .done
                continue
            }
            output.writeBytes(bytes[index..<(index + 9)])
            index += 9
            payloadLeft = length
            if phase == .awaitingClientSettings {
                guard isSettings && !isAck else {
                    phase = .done  // not the preface's SETTINGS: NIO refuses the connection
                    continue
                }
                ackAfterPayload = true
                if length == 0 { acknowledge(into: &output) }
            }
        }
        return output
    }

    private mutating func acknowledge(into output: inout ByteBuffer) {
        output.writeBytes(Self.settingsAck)
        ackAfterPayload = false
        phase = .awaitingClientAck
    }
}
