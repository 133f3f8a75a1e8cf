import ArgumentParser

/// The `cloakroom` command line (see SPEC.md "Command line").
@main
struct Cloakroom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloakroom",
        abstract: "A session-aware reverse proxy: server-side sessions in front of stateless APIs.",
        version: CloakroomVersion.line,
        subcommands: [Serve.self, Check.self, Sessions.self, Keys.self, Users.self, Version.self]
    )

    /// Runs the command; usage errors exit 2 (SPEC), not ArgumentParser's 64. A command group
    /// on its own (`cloakroom sessions`, or no command at all) names nothing to do: a usage error
    /// too, with the group's help on standard error. `--help` still prints it on standard output
    /// and exits 0 (ArgumentParser answers that while parsing).
    static func main() async {
        do {
            var command = try parseAsRoot()
            let group = type(of: command)
            if !group.configuration.subcommands.isEmpty {
                let names = group.configuration.subcommands.map { $0._commandName }.joined(separator: ", ")
                printError("Error: missing subcommand (one of: \(names))\n\n" + helpMessage(for: group))
                exit(withError: ExitCode(2))
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

/// Where the configuration file is found: `--config`, else `$CLOAKROOM_CONFIG`, else `./proxy.yaml`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Path to proxy.yaml (default: $CLOAKROOM_CONFIG, else ./proxy.yaml).", completion: .file(extensions: ["yaml", "yml"]))
    var config: String?

    var path: String {
        config ?? ProcessEnvironment.setting("CLOAKROOM_CONFIG") ?? "proxy.yaml"
    }
}
