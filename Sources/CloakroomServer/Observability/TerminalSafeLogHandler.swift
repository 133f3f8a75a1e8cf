import Logging

/// The text log (standard error): another handler, swift-log's `StreamLogHandler`, with every
/// message and metadata value made ``TerminalText/safe(_:backslashes:)`` first. Values come
/// from outside (a provider's `error` parameter, a sub, a host name, an error's text); one
/// holding CR or LF would otherwise write a line of its own choosing into the log.
///
/// A value with a space, `=` or `"` in it is quoted as logfmt does (`user="bob client=9.9.9.9"`,
/// `"` and `\` escaped inside): unquoted, a username holding ` client=9.9.9.9` read as a field
/// of its own to whatever parses the line (found by an audit: a fail2ban-style rule would ban
/// the address the attacker chose).
public struct TerminalSafeLogHandler<Wrapped: LogHandler>: LogHandler {
    public var wrapped: Wrapped

    public init(_ wrapped: Wrapped) {
        self.wrapped = wrapped
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: TerminalText.safe(event.message.description))
        if let metadata = event.metadata {
            event.metadata = metadata.mapValues(Self.safe)
        }
        // The handler's own metadata and its provider's are not the event's: wrap them too.
        var inner = wrapped
        if !inner.metadata.isEmpty { inner.metadata = inner.metadata.mapValues(Self.safe) }
        if let provider = inner.metadataProvider {
            inner.metadataProvider = Logger.MetadataProvider { provider.get().mapValues(Self.safe) }
        }
        inner.log(event: event)
    }

    /// `text` in double quotes, with `"` and `\` escaped, when it holds a space, `=` or `"`
    /// (or is empty); otherwise as it is.
    static func quoted(_ text: String) -> String {
        guard text.isEmpty || text.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\"") })
        else { return text }
        var result = "\""
        for character in text.unicodeScalars {
            if character == "\"" || character == "\\" { result.unicodeScalars.append("\\") }
            result.unicodeScalars.append(character)
        }
        return result + "\""
    }

    /// A value's own backslashes are escaped too, so an escape cannot be forged: a sub that
    /// is the six characters `\u2028` reads `\\u2028`, the character U+2028 `\u2028` (found
    /// by an audit: both printed alike).
    static func safe(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): return .string(quoted(TerminalText.safe(text, backslashes: true)))
        case .stringConvertible(let convertible):
            return .string(quoted(TerminalText.safe(convertible.description, backslashes: true)))
        case .array(let values): return .array(values.map(safe))
        case .dictionary(let values): return .dictionary(values.mapValues(safe))
        }
    }
}
