import ArgumentParser

/// The `cloakroom` command line (see SPEC.md "Command line").
@main
struct Cloakroom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloakroom",
        abstract: "A session-aware reverse proxy: server-side sessions in front of stateless APIs.",
        version: CloakroomVersion.current,
        subcommands: [Serve.self, Check.self, Version.self]
    )
}

/// Where the configuration file is found: `--config`, else `$CLOAKROOM_CONFIG`, else `./proxy.yaml`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Path to proxy.yaml (default: $CLOAKROOM_CONFIG, else ./proxy.yaml).")
    var config: String?

    var path: String {
        config ?? ProcessEnvironment.variables["CLOAKROOM_CONFIG"] ?? "proxy.yaml"
    }
}
