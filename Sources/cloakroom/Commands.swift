import ArgumentParser
import CloakroomConfig
import CloakroomServer
import Foundation
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

enum ProcessEnvironment {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }

    /// One of the CLI's own settings (`CLOAKROOM_CONFIG`, `CLOAKROOM_ADMIN_TOKEN`): an empty
    /// value counts as unset, as shells and compose files leave `VAR=` behind, so the command
    /// falls back to the next source (`./proxy.yaml`, `admin.token`) instead of using "".
    static func setting(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration = try loadConfiguration(options.path)
        let switches: ServeEnvironment
        switch ServeEnvironment.read(ProcessEnvironment.variables) {
        case .success(let read): switches = read
        case .failure(let problems):
            for problem in problems.list { printError(problem) }
            throw ExitCode(1)
        }
        let level = switches.logLevel
        LoggingSystem.bootstrap { label in
            if label == "cloakroom.access" || label == "cloakroom.audit" { return JSONLinesLogHandler(label: label) }
            var handler = TerminalSafeLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry))
        let logger = Logger(label: "cloakroom")
        let accessLog = switches.accessLog ? Logger(label: "cloakroom.access") : nil
        let auditLog = switches.auditLog ? SessionAuditLog.standardOutput() : nil
        let loops = switches.eventLoops
        let path = options.path
        // A reload checks the file again, but never opens the database the store holds.
        let reloadFiles: LocalFileSystem
        if case .file(let store) = configuration.session.store {
            reloadFiles = LocalFileSystem(openDatabase: store.path)
        } else {
            reloadFiles = LocalFileSystem()
        }
        let server: ProxyServer
        do {
            server = try await ProxyServer.open(
                configuration: configuration, logger: logger,
                observability: .init(accessLog: accessLog, renderMetrics: { registry.emitToString() }, auditLog: auditLog),
                threads: loops ?? System.coreCount,
                configurationSource: {
                    try ConfigurationLoader.load(contentsOf: path, environment: ProcessEnvironment.variables, files: reloadFiles)
                })
        } catch {
            printError("\(options.path): \(error)")
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("server failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

/// Loads and validates the configuration, or prints every problem and exits 1: the same
/// problems `check` prints (found by an audit: `serve` left out what only the server checks,
/// such as a key that does not match its certificate).
func loadConfiguration(_ path: String) throws -> Configuration {
    let (configuration, problems) = configurationProblems(path)
    if let configuration, problems.isEmpty { return configuration }
    printError("\(path): invalid configuration")
    for problem in problems { printError("  \(problem)") }
    throw ExitCode(1)
}

/// The configuration at `path` and every problem with it, in one pass: the loader's, then what
/// only the server can tell (TLS material, the users file's contents), checked on whatever was
/// read without a problem.
func configurationProblems(_ path: String) -> (Configuration?, [String]) {
    do {
        let configuration = try ConfigurationLoader.load(contentsOf: path, environment: ProcessEnvironment.variables)
        return (configuration, ProxyServer.problems(in: configuration))
    } catch {
        return (nil, error.problems.map(\.description) + (error.readable.map(ProxyServer.problems(in:)) ?? []))
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration; print every problem with its key path.",
        discussion: """
            Checks what serve would trip on, in one pass: every key and value, the files the \
            configuration names (TLS certificates and keys, the users file, the file store's \
            directory), whether TLS keys match their certificates, and the Redis URL. Connects to \
            nothing. Exits 0 when the file is valid, 1 when it is not.
            """)
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let (configuration, problems) = configurationProblems(options.path)
        guard problems.isEmpty else {
            for problem in problems { print(problem) }
            throw ExitCode(1)
        }
        // Valid, but worth knowing (an expired certificate): said, and the check still passes.
        for warning in configuration.map { ProxyServer.warnings(in: $0) } ?? [] { print("warning: \(warning)") }
        print("\(options.path): configuration is valid")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the git commit it was built from.")
    func run() { print(CloakroomVersion.line) }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
