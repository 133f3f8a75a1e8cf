import ArgumentParser
import CloakroomConfig
import CloakroomServer
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

enum ProcessEnvironment {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }
}

enum CloakroomVersion {
    static let current = "0.1.0"
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(contentsOf: options.path, environment: ProcessEnvironment.variables)
        } catch {
            printError("\(options.path): invalid configuration")
            for problem in error.problems { printError("  \(problem)") }
            throw ExitCode(1)
        }
        let level = ProcessEnvironment.variables["CLOAKROOM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "cloakroom")
        let server: ProxyServer
        do {
            let loops = ProcessEnvironment.variables["CLOAKROOM_EVENT_LOOPS"].flatMap(Int.init).map { max(1, $0) }
            server = try ProxyServer(configuration: configuration, logger: logger, threads: loops ?? System.coreCount)
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

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration; print every problem with its key path.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        do {
            _ = try ConfigurationLoader.load(contentsOf: options.path, environment: ProcessEnvironment.variables)
            print("\(options.path): configuration is valid")
        } catch {
            for problem in error.problems { print(problem) }
            throw ExitCode(1)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("cloakroom \(CloakroomVersion.current)") }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
