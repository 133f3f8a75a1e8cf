import NIOCore

/// Writes one command as a RESP array of bulk strings, straight into a `ByteBuffer`: no
/// intermediate strings or arrays per argument, so a lookup costs one buffer allocation.
///
///     var command = RESPCommandBuilder(argumentCount: 2)
///     command.append("GET")
///     command.append(key)
///     connection.send(command.buffer)
///
/// - Important: exactly `argumentCount` arguments must be appended; the header is written
///   first and is not patched afterwards.
public struct RESPCommandBuilder: Sendable {
    public private(set) var buffer: ByteBuffer

    public init(argumentCount: Int, capacity: Int = 256, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        buffer = allocator.buffer(capacity: capacity)
        buffer.writeInteger(UInt8(ascii: "*"))
        writeDecimal(Int64(argumentCount))
        buffer.writeStaticString("\r\n")
    }

    public mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    public mutating func append(_ argument: Int64) {
        // Decimal digits written twice (once to count them) rather than formatted into a String.
        var digits = 1
        var rest = argument.magnitude / 10
        while rest > 0 { digits += 1; rest /= 10 }
        if argument < 0 { digits += 1 }
        buffer.writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(digits))
        buffer.writeStaticString("\r\n")
        writeDecimal(argument)
        buffer.writeStaticString("\r\n")
    }

    public mutating func append(_ argument: Int) {
        append(Int64(argument))
    }

    public mutating func append(bytes: UnsafeRawBufferPointer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(bytes.count))
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    public mutating func append(_ argument: ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "$"))
        writeDecimal(Int64(argument.readableBytes))
        buffer.writeStaticString("\r\n")
        buffer.writeImmutableBuffer(argument)
        buffer.writeStaticString("\r\n")
    }

    private mutating func writeDecimal(_ value: Int64) {
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        }
    }
}
