import NIOCore

/// Turns the bytes of a connection into ``RESPValue``s, one complete reply at a time.
///
/// A malformed or oversized reply is thrown as a ``RESPDecodingError``; the
/// `ByteToMessageHandler` wrapping this decoder passes it down the pipeline, where the
/// connection's handler fails every command in flight and closes the channel. Bytes left over
/// at end of stream are an incomplete reply and are dropped: the commands waiting for it fail
/// when the channel goes inactive.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let parser: RESPParser

    public init(limits: RESPLimits = .default) {
        self.parser = RESPParser(limits: limits)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try parser.parse(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try parser.parse(&buffer)
    }
}
