import Logging

/// The environment switches of `cloakroom serve`: `CLOAKROOM_LOG_LEVEL`,
/// `CLOAKROOM_ACCESS_LOG`, `CLOAKROOM_AUDIT_LOG` and `CLOAKROOM_EVENT_LOOPS`. A value that
/// is not one of the accepted ones stops the start with a message naming the variable, as a
/// bad `proxy.yaml` key does: `CLOAKROOM_AUDIT_LOG=OFF` or `=false` used to leave the log on
/// without a word. Names of levels and `off`/`on` compare in any case; an empty value counts
/// as unset.
struct ServeEnvironment {
    var logLevel: Logger.Level = .info
    var accessLog = true
    var auditLog = true
    /// `nil`: one event loop per core.
    var eventLoops: Int?

    static let levels = "trace, debug, info, notice, warning, error, critical"

    /// The switches, or every problem with them.
    static func read(_ environment: [String: String]) -> Result<ServeEnvironment, Problems> {
        var switches = ServeEnvironment()
        var problems: [String] = []
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        if let level = value("CLOAKROOM_LOG_LEVEL") {
            if let parsed = Logger.Level(rawValue: level.lowercased()) {
                switches.logLevel = parsed
            } else {
                problems.append("CLOAKROOM_LOG_LEVEL: expected one of \(levels), got \"\(level)\"")
            }
        }
        for (name, keyPath) in [("CLOAKROOM_ACCESS_LOG", \ServeEnvironment.accessLog), ("CLOAKROOM_AUDIT_LOG", \.auditLog)] {
            guard let text = value(name) else { continue }
            switch text.lowercased() {
            case "off": switches[keyPath: keyPath] = false
            case "on": switches[keyPath: keyPath] = true
            default: problems.append("\(name): expected off or on, got \"\(text)\"")
            }
        }
        if let loops = value("CLOAKROOM_EVENT_LOOPS") {
            if let count = Int(loops), count >= 1 {
                switches.eventLoops = count
            } else {
                problems.append("CLOAKROOM_EVENT_LOOPS: expected a whole number of threads, 1 or more, got \"\(loops)\"")
            }
        }
        return problems.isEmpty ? .success(switches) : .failure(Problems(list: problems))
    }

    struct Problems: Error {
        var list: [String]
    }
}
