import Logging
import Synchronization

/// Every message a ``capturingLogger()`` got, with its metadata, as `message key=value ...`
/// (keys sorted): for checks of what a store logs, and what it never logs (a session's ID or key).
public final class LogLines: Sendable {
    let lines = Mutex<[String]>([])

    public var all: [String] { lines.withLock { $0 } }
}

/// A logger at `trace` that keeps every message in the returned ``LogLines``.
public func capturingLogger() -> (Logger, LogLines) {
    struct Handler: LogHandler {
        let box: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            box.lines.withLock { $0.append("\(event.message) \(rendered)") }
        }
    }
    let box = LogLines()
    return (Logger(label: "capture") { _ in Handler(box: box) }, box)
}
