import Logging
import Synchronization

/// Collects every log line (message and metadata, rendered) so tests can check what was logged.
struct CapturingLogHandler: LogHandler {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    let captured: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        captured.lines.withLock { $0.append("\(event.level) \(event.message) \(rendered)") }
    }

    static func logger() -> (Logger, Lines) {
        let lines = Lines()
        return (Logger(label: "capture") { _ in CapturingLogHandler(captured: lines) }, lines)
    }
}
